"""Labelled messages: reading them, and the fixed train/test split.

Format (one JSON object per line, documented in training_data/README.md): id, language, subject,
sender, text (the whole body as received, quotes and all), is_complaint, category, secondary,
severity, remedy, refs, and optionally split. The split is a pure function of the id unless a record
says otherwise, so it never moves when files are added, re-ordered or re-written: a record that was
once in the test split stays there, and training can never see it.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from triage.newest import newest_part
from triage.nlp.features import model_text

TEST_PERCENT = 25


def split_of(record: dict) -> str:
    if record.get("split") in ("train", "test"):
        return record["split"]
    h = int(hashlib.sha1(record["id"].encode("utf-8")).hexdigest()[:8], 16)
    return "test" if h % 100 < TEST_PERCENT else "train"


def load_records(root: str | Path) -> list[dict]:
    root = Path(root)
    files = sorted(root.rglob("*.jsonl")) if root.is_dir() else [root]
    records = []
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{f}:{n}: not valid JSON ({e}); run scripts/validate_training_data.py") from e
                rec["_file"] = str(f)
                if "eml" in rec and not rec.get("text"):
                    _read_eml(rec, f.parent / rec["eml"])
                records.append(rec)
    return records


def _read_eml(rec: dict, path: Path) -> None:
    """A record may point at a saved message instead of carrying its text: it is read exactly as the
    worker reads live mail, so the newest part the model sees is the one it would see in production."""
    from triage.parse import parse_message

    try:
        parsed = parse_message(path.read_bytes())
    except OSError as e:
        raise ValueError(f"{rec.get('_file')}: record {rec.get('id')}: cannot read {path}: {e}") from e
    rec["text"] = parsed.text
    rec["_newest"] = parsed.newest
    rec.setdefault("subject", parsed.subject)
    rec.setdefault("sender", f"{parsed.sender_name} <{parsed.sender}>".strip())


@dataclass(frozen=True)
class Example:
    id: str
    language: str
    text: str  # what the model reads
    newest: str
    subject: str
    is_complaint: bool
    category: str | None
    severity: str
    remedy: tuple[str, ...]


def examples(records: Iterable[dict]) -> list[Example]:
    out = []
    for r in records:
        newest = r["_newest"] if "_newest" in r else newest_part(r["text"])
        out.append(
            Example(
                id=r["id"],
                language=r["language"],
                text=model_text(r.get("subject", ""), newest),
                newest=newest,
                subject=r.get("subject", ""),
                is_complaint=bool(r["is_complaint"]),
                category=r.get("category"),
                severity=r.get("severity", "none"),
                remedy=tuple(r.get("remedy", [])),
            )
        )
    return out


def split(records: list[dict]) -> tuple[list[dict], list[dict]]:
    train = [r for r in records if split_of(r) == "train"]
    test = [r for r in records if split_of(r) == "test"]
    return train, test
