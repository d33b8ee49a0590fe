"""The acknowledgement draft: thank, restate, ask for evidence, commit to a time, admit nothing.

Wording lives in Jinja2 templates (`templates/draft_<lang>.txt.j2`) and a phrase file that staff can
edit; this module only decides *what* to ask for, which depends on what the customer already gave
us (photos attached, order number quoted) and on the category.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources

import jinja2

from triage.guard import Violation, check_draft
from triage.nlp.language import reply_language, to_traditional
from triage.understand import Understanding

SAFETY_SIGNALS = {"injury", "recall"}
_REF_TAG = "[{ref}]"


@dataclass(frozen=True)
class Draft:
    subject: str
    body: str
    language: str
    in_reply_to: str
    references: tuple[str, ...]
    violations: tuple[Violation, ...]

    def to_json(self) -> dict:
        return {"subject": self.subject, "body": self.body}


@lru_cache(maxsize=1)
def _phrases() -> dict:
    return tomllib.loads(resources.files("triage.resources").joinpath("draft_phrases.toml").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("triage", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
        autoescape=False,  # plain-text mail
    )


def evidence_to_ask(u: Understanding, language: str) -> list[str]:
    """Only what we still need: never ask for photos already attached or a number already given."""
    ask = _phrases()["ask"][language]
    items: list[str] = []
    cat = u.category or ""
    if not u.has_photos and cat in ("wrong_goods", "damage", "quality"):
        items.append(ask["photos"])
        if cat == "damage":
            items.append(ask["damage_photos"])
    ex = u.extraction
    if not (ex.order_numbers or ex.bl_numbers or ex.containers or ex.awb_numbers):
        items.append(ask["refs"])
    # "37 of the 240 cartons" already says how many out of how many.
    if cat in ("wrong_goods", "damage", "quality") and len(ex.quantities) < 2 and not ex.percentages:
        items.append(ask["quantity"])
    if cat in ("quality", "billing", "late_delivery", "unreachable_staff"):
        items.append(ask[cat])
    return items


def reply_subject(subject: str, case_ref: str) -> str:
    base = (subject or "").strip()
    tag = _REF_TAG.format(ref=case_ref)
    if tag in base:
        tag = ""
    if not base.lower().startswith(("re:", "回复:", "回覆:", "答复:")):
        base = f"Re: {base}" if base else "Re:"
    return f"{base} {tag}".strip()


def _format_time(when: datetime, language: str) -> str:
    if language == "en":
        return when.strftime("%A %d %B %Y, %H:%M")
    return f"{when.year}年{when.month}月{when.day}日 {when:%H:%M}"


def make_draft(
    u: Understanding,
    *,
    case_ref: str,
    subject: str,
    customer_name: str,
    newest: str,
    message_id: str,
    references: tuple[str, ...],
    reply_by: datetime,
    company: str,
    signature_en: str,
    signature_zh: str,
) -> Draft:
    """Render the draft for one complaint; the guard's findings travel with it."""
    language = reply_language(u.language, newest)
    if language not in ("en", "zh-Hans", "zh-Hant"):
        language = "en"
    ex = u.extraction
    refs = list(ex.order_numbers[:3]) + list(ex.bl_numbers[:1]) + list(ex.containers[:1])
    problem = _phrases()["problem"][language][u.category or "quality"]
    safety = u.severity == "critical" and any(s.name in SAFETY_SIGNALS for s in u.signals)
    body = _env().get_template(f"draft_{language}.txt.j2").render(
        name=customer_name if language == "en" else (customer_name or ""),
        refs=refs,
        products=[p for p in ex.products[:2] if p not in " ".join(refs)],
        problem=problem,
        category=u.category,
        severity=u.severity,
        case_ref=case_ref,
        reply_by=_format_time(reply_by, language),
        ask=evidence_to_ask(u, language),
        safety=safety,
        # The customer's script throughout, the signature included.
        signature=signature_en if language == "en" else (to_traditional(signature_zh) if language == "zh-Hant" else signature_zh),
        company=company,
    )
    refs_header = tuple(references) + ((message_id,) if message_id and message_id not in references else ())
    return Draft(
        subject=reply_subject(subject, case_ref),
        body=body,
        language=language,
        in_reply_to=message_id,
        references=refs_header,
        violations=tuple(check_draft(body)),
    )
