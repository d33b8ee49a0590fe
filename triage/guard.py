"""The draft guard: no admission of fault, liability or compensation before the facts are checked.

Every draft passes through `check_draft` before it can be approved, whether the system wrote it or a
person edited it. Patterns are data (`resources/guard.toml`) so a manager can add a phrase they saw
slip through.
"""
from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from triage.nlp.language import to_simplified


@dataclass(frozen=True)
class Violation:
    kind: str
    reason: str
    phrase: str  # as written in the draft

    def __str__(self) -> str:
        return f"{self.reason}: “{self.phrase}”"


@lru_cache(maxsize=1)
def _rules() -> list[tuple[str, str, re.Pattern[str]]]:
    raw = tomllib.loads(resources.files("triage.resources").joinpath("guard.toml").read_text(encoding="utf-8"))
    return [(kind, r["reason"], re.compile(p, re.I)) for kind, r in raw.items() for p in r["patterns"]]


def check_draft(text: str) -> list[Violation]:
    """Every forbidden phrase in the draft, shown as the draft spells it."""
    original = unicodedata.normalize("NFKC", text or "")
    # OpenCC t2s keeps string length for the characters it maps one-to-one, so spans map back.
    simplified = to_simplified(original)
    if len(simplified) != len(original):
        simplified, original = simplified, simplified
    found: list[Violation] = []
    for kind, reason, pat in _rules():
        for m in pat.finditer(simplified.replace("’", "'")):
            phrase = original[m.start() : m.end()].strip()
            if phrase and not any(v.phrase == phrase for v in found):
                found.append(Violation(kind, reason, phrase))
    return found
