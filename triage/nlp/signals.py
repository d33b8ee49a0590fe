"""Explicit severity signals: the business risks LABELS.md says decide severity whatever the tone.

A learned model is good at the gist, but a single word like "lawyer" or "起火" must lift a case to
critical every time, and staff must see why. Lexicons live in `resources/signals.toml`.
"""
from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from triage.nlp.extract import Extraction, usd_at_stake
from triage.nlp.language import to_simplified

LEVELS = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Signal:
    name: str
    level: str
    reason: str
    evidence: str


_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[a-z]{3,}")


def _join(patterns: list[str]) -> re.Pattern[str] | None:
    """Patterns are written in lower case and matched against lower-cased text: without re.I,
    Python's matcher runs these alternations about three times faster."""
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


@lru_cache(maxsize=1)
def _lexicon() -> dict[str, tuple[str, str, re.Pattern[str] | None, re.Pattern[str] | None]]:
    """Each signal's patterns joined into one alternation per script: one scan of the text per signal,
    and the slower word-boundary English scan is skipped for mail with hardly any English in it."""
    raw = tomllib.loads(resources.files("triage.resources").joinpath("signals.toml").read_text(encoding="utf-8"))
    out = {}
    for name, s in raw.items():
        cjk = [p for p in s["patterns"] if _HAN.search(p)]
        latin = [p for p in s["patterns"] if not _HAN.search(p)]
        out[name] = (s["level"], s["reason"], _join(latin), _join(cjk))
    return out


@lru_cache(maxsize=256)
def _lexicon_signals(text: str) -> tuple[Signal, ...]:
    """Cached: the model's features and the severity floor both ask about the same text."""
    t = to_simplified(unicodedata.normalize("NFKC", text or "")).lower()
    has_han = bool(_HAN.search(t))
    english = not has_han or len(_LATIN_WORD.findall(t)) >= 4
    found = []
    for name, (level, reason, latin, cjk) in _lexicon().items():
        m = (latin.search(t) if english and latin else None) or (cjk.search(t) if has_han and cjk else None)
        if m:
            found.append(Signal(name, level, reason, m.group(0).strip()))
    return tuple(found)


def signal_names() -> list[str]:
    return list(_lexicon()) + ["big_amount", "big_share"]


def find_signals(text: str, extraction: Extraction | None = None, key_account: bool = False) -> list[Signal]:
    """Every severity signal in the newest part, with the words that triggered it."""
    found = list(_lexicon_signals(text or ""))
    if extraction is not None:
        usd = usd_at_stake(extraction)
        if usd >= 10_000:
            found.append(Signal("big_amount", "high", "about USD 10,000 or more at stake", f"~USD {usd:,.0f}"))
        share = max(extraction.percentages, default=0)
        if 20 <= share <= 100:
            found.append(Signal("big_share", "high", "a fifth or more of the order affected", f"{share:g}%"))
    if key_account:
        found.append(Signal("key_account", "medium", "key-account customer", "customer domain on the key-account list"))
    return found


def floor_level(signals: list[Signal]) -> str | None:
    """The lowest severity the signals allow."""
    if not signals:
        return None
    return max((s.level for s in signals), key=LEVELS.index)
