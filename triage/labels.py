"""Labelled history: analysts confirm or correct what the model said, and retraining learns from it.

Every correction is a row in `label_history` (who, when, old, new) and an audit event; the case's own
labels change too, so managers see the corrected view. `export` turns confirmed cases into training
records pinned to the train split, so the fixed test split stays comparable across model versions.
"""
from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage import store
from triage.db import Case, LabelChange


def correct(session: Session, case: Case, actor: str, *, category: str | None = None, severity: str | None = None,
            is_complaint: bool | None = None, confirm: bool = False) -> list[str]:
    changes: list[str] = []

    def change(field: str, old, new) -> None:
        session.add(LabelChange(case_id=case.id, field=field, old=None if old is None else str(old), new=str(new), actor=actor))
        store.add_event(session, case, "label_corrected", actor=actor, field=field, old=old, new=new)
        changes.append(f"{field}: {old} -> {new}")

    if is_complaint is False:
        change("is_complaint", True, False)
        case.category, case.severity = None, "none"
        case.facts = {**case.facts, "is_complaint": False}
    if category and category != case.category:
        change("category", case.category, category)
        case.category = category
    if severity and severity != case.severity:
        change("severity", case.severity, severity)
        case.severity = severity
    if confirm and not changes:
        session.add(LabelChange(case_id=case.id, field="confirmed", old=None, new="yes", actor=actor))
        store.add_event(session, case, "labels_confirmed", actor=actor)
    case.labels_confirmed = True
    session.commit()
    return changes


def export(session: Session, out: Path) -> int:
    """Write one training record per confirmed case (its first customer message)."""
    records = []
    for case in session.scalars(select(Case).where(Case.labels_confirmed.is_(True)).order_by(Case.id)):
        first = next((m for m in case.messages if m.direction == "in"), None)
        if first is None or not (first.newest or "").strip():
            continue
        is_complaint = case.facts.get("is_complaint", True) is not False and case.category is not None
        records.append({
            "id": f"hist-{case.ref}",
            "language": case.language if case.language in ("en", "zh-Hans", "zh-Hant", "mixed") else "en",
            "subject": first.subject,
            "sender": first.sender,
            "text": first.newest,
            "is_complaint": is_complaint,
            "category": case.category if is_complaint else None,
            "secondary": [c for c in case.secondary if c != case.category] if is_complaint else [],
            "severity": case.severity if is_complaint else "none",
            "remedy": list(case.remedy) if is_complaint else [],
            "refs": list(case.order_numbers),
            "split": "train",
        })
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return len(records)
