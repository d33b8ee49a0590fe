"""Quantities and shares written in words: "two of the five pallets", "a dozen cartons", "三十箱", "五箱中有两箱".

Customers write small numbers as words, and the share of an order affected is what separates a
medium case from a high one (LABELS.md section 3), so the digit patterns in `extract.toml` are not
enough. English goes through spaCy's Matcher on the blank tokenizer: the token attribute LIKE_NUM
already knows number words, and token patterns say "number, optional adjective, unit" more plainly
than a regular expression. Chinese numerals are read by a small parser (spaCy has no Chinese number
words), with the same unit list as the digit patterns.
"""
from __future__ import annotations

import re

_ONES = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "a": 1, "an": 1,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000, "dozen": 12}
_FRACTIONS = {"half": 50.0, "third": 33.0, "quarter": 25.0, "fifth": 20.0}

UNITS = (
    "pcs", "pieces", "piece", "units", "unit", "sets", "set", "cartons", "carton", "ctns", "boxes", "box", "pallets",
    "pallet", "pairs", "pair", "rolls", "roll", "containers", "container", "cases", "case", "bags", "bag", "drums",
    "drum", "crates", "crate", "bottles", "bottle", "tins", "cans", "bales", "bundles", "coils", "sheets", "reels",
    "machines", "tons", "tonnes",
)
_UNIT_NAMES = {"piece": "pcs", "pieces": "pcs", "unit": "units", "set": "sets", "carton": "cartons", "ctns": "cartons",
               "box": "boxes", "pallet": "pallets", "pair": "pairs", "roll": "rolls", "container": "containers",
               "case": "cases", "bag": "bags", "drum": "drums", "crate": "crates", "bottle": "bottles",
               "tonnes": "tons"}
_WORDS = set(_ONES) | set(_TENS) | set(_SCALES)


def english_number(words: list[str]) -> float | None:
    """"twenty-five" -> 25, "two hundred" -> 200, "a dozen" -> 12, "three" -> 3; None if not a number."""
    parts = [p for w in words for p in w.lower().replace("-", " ").split() if p != "and"]
    if not parts or any(p not in _WORDS for p in parts) or all(p in ("a", "an") for p in parts):
        return None
    total, current = 0, 0
    for p in parts:
        if p in _ONES:
            current += _ONES[p]
        elif p in _TENS:
            current += _TENS[p]
        elif p == "dozen":
            current = max(current, 1) * 12
        elif p == "hundred":
            current = max(current, 1) * 100
        else:  # thousand
            total += max(current, 1) * 1000
            current = 0
    return float(total + current)


def _matcher():
    """The Matcher for the pipeline in use, rebuilt when tokens.py renews the pipeline."""
    from triage.nlp.tokens import english_pipeline

    nlp = english_pipeline()
    if _built and _built[0] is nlp:
        return _built
    _built[:] = [nlp, _build_matcher(nlp)]
    return _built


_built: list = []


def _build_matcher(nlp):
    from spacy.matcher import Matcher

    m = Matcher(nlp.vocab)
    number = {"LOWER": {"IN": sorted(_WORDS - {"a", "an"})}}
    more = {"LOWER": {"IN": sorted(_WORDS | {"-", "and"})}, "OP": "*"}  # "twenty - five", "two hundred and ten"
    unit = {"LOWER": {"IN": list(UNITS)}}
    m.add("QTY", [
        [number, more, {"IS_ALPHA": True, "OP": "?"}, unit],
        [{"LOWER": {"IN": ["a", "an"]}}, {"LOWER": "dozen"}, {"IS_ALPHA": True, "OP": "?"}, unit],
    ], greedy="LONGEST")
    part_whole = [{"LOWER": {"IN": ["of", "out"]}}, {"LOWER": "of", "OP": "?"},
                  {"LOWER": {"IN": ["the", "our", "all", "those", "these", "their"]}, "OP": "?"}]
    m.add("SHARE", [[number, more, {**unit, "OP": "?"}, *part_whole, {"LIKE_NUM": True}, {"LIKE_NUM": True, "OP": "*"}]],
          greedy="LONGEST")
    m.add("FRACTION", [[{"LOWER": {"IN": ["a", "one", "about", "almost", "nearly", "over", "more"]}, "OP": "?"},
                        {"LOWER": {"IN": list(_FRACTIONS)}}, {"LOWER": "of"}]], greedy="LONGEST")
    return m


# Matched on lower-cased text (see _windows): re.I would make this scan several times slower.
_HAS_NUMBER_WORD = re.compile(r"\b(" + "|".join(sorted(_WORDS | set(_FRACTIONS) - {"a", "an"}, key=len, reverse=True)) + r")\b")


_UNIT_OR_OF = re.compile(r"\b(of|" + "|".join(UNITS) + r")\b")


def _value(tokens: list[str]) -> float | None:
    if all(re.fullmatch(r"[\d,]+", t) for t in tokens):
        try:
            return float("".join(tokens).replace(",", ""))
        except ValueError:
            return None
    return english_number(tokens)


def english_quantities(text: str) -> tuple[list[tuple[float, str]], list[float]]:
    """(quantity, unit) pairs and percentages of the order, from numbers written as English words."""
    windows = _windows(text)
    if not windows:
        return [], []
    nlp, matcher = _matcher()
    quantities: list[tuple[float, str]] = []
    shares: list[float] = []
    # Only the stretches around number words are tokenised and matched: a long mail costs no more
    # than a short one with the same numbers in it.
    lower = text.lower()
    for a, b in windows:
        # Every pattern ends in a unit or has "of" in it: a stretch with neither cannot match.
        if _UNIT_OR_OF.search(lower, a, b):
            doc = nlp.tokenizer(text[a:b])
            _read_matches(nlp, doc, matcher(doc), quantities, shares)
    return quantities, shares


def _windows(text: str) -> list[tuple[int, int]]:
    """Merged spans from a few characters before each number word to the end of what could follow."""
    out: list[tuple[int, int]] = []
    for m in _HAS_NUMBER_WORD.finditer(text.lower()):
        a, b = max(0, m.start() - 12), min(len(text), m.end() + 60)
        while a > 0 and not text[a - 1].isspace():  # start on a word boundary
            a -= 1
        while b < len(text) and not text[b].isspace():
            b += 1
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


def _read_matches(nlp, doc, matches, quantities: list[tuple[float, str]], shares: list[float]) -> None:
    for match_id, start, end in matches:
        label = nlp.vocab.strings[match_id]
        words = [t.text for t in doc[start:end]]
        if label == "QTY":
            unit = words[-1].lower()
            n = english_number(_leading_number_words(words))
            if n:
                quantities.append((n, _UNIT_NAMES.get(unit, unit)))
        elif label == "SHARE":
            lowered = [w.lower() for w in words]
            cut = next(i for i, w in enumerate(lowered) if w in ("of", "out"))
            part = english_number(_leading_number_words(words))
            tail = [w for w in words[cut:] if w.lower() not in ("of", "out", "the", "our", "all", "those", "these", "their")]
            whole = _value(tail)
            if part and whole and 0 < part <= whole:
                shares.append(round(100 * part / whole, 1))
        else:
            shares.append(next(_FRACTIONS[w.lower()] for w in words if w.lower() in _FRACTIONS))


def _leading_number_words(words: list[str]) -> list[str]:
    out = []
    for w in words:
        if w.lower() not in _WORDS and w not in ("-", "and"):
            break
        out.append(w)
    return [w for w in out if w != "-"]


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000, "萬": 10000}
CN_NUMERAL = "[零〇一二两兩三四五六七八九十百千万萬]+"


def chinese_number(s: str) -> float | None:
    """"三十" -> 30, "两百五十" -> 250, "一千二" -> 1200, "十二" -> 12; None if not a numeral."""
    if not s or any(c not in _CN_DIGITS and c not in _CN_UNITS for c in s):
        return None
    total, section, digit = 0, 0, None
    last_unit = 1
    for c in s:
        if c in _CN_DIGITS:
            digit = _CN_DIGITS[c]
        else:
            unit = _CN_UNITS[c]
            if unit == 10000:
                total += (section + (digit or 0)) * 10000
                section, digit, last_unit = 0, None, 10000
                continue
            section += (1 if digit is None else digit) * unit
            digit, last_unit = None, unit
    if digit is not None:
        # "一千二" means 1200: a trailing digit after a unit counts in the next unit down.
        section += digit * (last_unit // 10 if last_unit >= 100 and len(s) > 1 and s[-2] in _CN_UNITS else 1)
    return float(total + section)
