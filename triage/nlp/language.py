"""Which language and script the customer wrote in: en, zh-Hans, zh-Hant or mixed.

Decided from the text itself, never from headers (a Taiwanese buyer's Outlook often says GB2312).
Script is judged by which characters OpenCC would change: a character that only exists in
Traditional form votes Traditional and vice versa; shared characters do not vote.
"""
from __future__ import annotations

import re
from functools import lru_cache

import opencc

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


@lru_cache(maxsize=1)
def _converters() -> tuple[opencc.OpenCC, opencc.OpenCC]:
    return opencc.OpenCC("t2s"), opencc.OpenCC("s2t")


@lru_cache(maxsize=16)
def to_simplified(text: str) -> str:
    """Traditional to Simplified, so both scripts share one vocabulary for features. Cached for the
    message in hand: features, signals and language detection all convert the same text."""
    return _converters()[0].convert(text) if _HAN.search(text) else text


def to_traditional(text: str) -> str:
    return _converters()[1].convert(text)


def chinese_script(text: str, han: str | None = None) -> str:
    """zh-Hant or zh-Hans, by which of the text's Chinese characters OpenCC would change."""
    if han is None:
        han = "".join(_HAN.findall(text))
    if not han:
        return "zh-Hans"
    t2s, s2t = _converters()
    # map(str.__ne__) compares character by character in C, as zip() would in Python.
    trad_votes = sum(map(str.__ne__, han, t2s.convert(han)))
    simp_votes = sum(map(str.__ne__, han, s2t.convert(han)))
    return "zh-Hant" if trad_votes > simp_votes else "zh-Hans"


def detect_language(text: str) -> str:
    """en, zh-Hans, zh-Hant or mixed (substantial English and Chinese both)."""
    han_chars = _HAN.findall(text)
    han = len(han_chars)
    latin_words = _LATIN_WORD.findall(text)
    # Order numbers, units and brand names are Latin in Chinese mail: only count real words.
    latin = sum(len(w) for w in latin_words if not w.isupper() or len(w) > 4)
    if han == 0:
        return "en"
    # A Chinese character carries about as much as 3 Latin letters.
    zh_weight = han * 3
    if latin >= 15 and zh_weight >= 12 and min(latin, zh_weight) / max(latin, zh_weight) >= 0.15:
        return "mixed"
    if zh_weight >= latin or han >= 8:
        return chinese_script(text, "".join(han_chars))
    return "en"


def reply_language(language: str, text: str) -> str:
    """The language a draft should be in: a mixed mail gets the script of its Chinese part when Chinese dominates."""
    if language != "mixed":
        return language
    han = len(_HAN.findall(text))
    latin = sum(len(w) for w in _LATIN_WORD.findall(text))
    return chinese_script(text) if han * 3 > latin else "en"
