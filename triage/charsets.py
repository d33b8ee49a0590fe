"""Turn a MIME part's bytes into text the way Chinese mail actually needs.

Mail clients label GBK text as GB2312 and HKSCS text as Big5 all the time; decoding with the label
as written loses characters. We widen those labels to their supersets, trust a label only if the
bytes decode cleanly with it, and otherwise ask a maintained detector (charset-normalizer).

Short strings (a raw 8-bit subject or file name) are too short for any detector to be sure of, so
callers pass the charsets the rest of the message declared as `hints`: a Chinese mailer that writes
its subject as raw bytes writes it in the same charset as its body.
"""
from __future__ import annotations

import codecs
from collections.abc import Iterable

from charset_normalizer import from_bytes

# Labels that real mail uses for a narrower charset than the bytes actually are.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "csgb2312": "gb18030",
    "chinese": "gb18030",
    "hz-gb-2312": "hz",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "big-5": "big5hkscs",
    "cp950": "big5hkscs",
    "ms950": "big5hkscs",
    "windows-950": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}

# Tried, in this order, for short 8-bit text when neither a label nor a hint explains the bytes:
# this mailbox's own languages first. GB18030 decodes almost any byte pair, so it must come after
# the check that the result looks like real CJK text (see `_plausible`).
_SHORT_TEXT_CANDIDATES = ("gb18030", "big5hkscs", "cp932", "cp949", "cp1252")


def normalise_charset(label: str | None) -> str | None:
    """The codec to use for a declared label, widened to its superset; None if Python has no such codec."""
    if not label:
        return None
    name = str(label).strip().strip('"').strip("'").lower()
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _try(data: bytes, charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        return data.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return None


def _plausible(text: str) -> bool:
    """A guessed decoding of CJK bytes: reject controls, private-use and rare-plane junk."""
    for ch in text:
        o = ord(ch)
        if o < 0x20 and ch not in "\t\r\n":
            return False
        if 0x80 <= o < 0xA0 or 0xE000 <= o <= 0xF8FF or o >= 0x20000:
            return False
    return True


def decode_bytes(data: bytes, declared: str | None = None, hints: Iterable[str | None] = ()) -> str:
    """Decode `data`; never raises and only substitutes U+FFFD for bytes no charset explains.

    Order: the declared label (widened), UTF-8, the message's other charsets (`hints`), the
    detector; and only if all of those fail, the declared label with replacement characters.
    """
    if not data:
        return ""
    charset = normalise_charset(declared)
    for candidate in (charset, "utf-8", *(normalise_charset(h) for h in hints)):
        text = _try(data, candidate)
        if text is not None:
            return text
    return _detect(data)


def _nearly_utf8(data: bytes) -> str | None:
    """UTF-8 cut mid-character (a header truncated by a mailer): keep it, with U+FFFD for the cut bytes."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    multibyte = sum(1 for ch in text if ord(ch) > 0x7F) - bad
    return text if 0 < bad <= 3 and multibyte >= 4 * bad else None


def _detect(data: bytes) -> str:
    text = _nearly_utf8(data)
    if text is not None:
        return text
    if len(data) < 48:  # too short for statistics: take the first of our languages that reads cleanly
        for candidate in _SHORT_TEXT_CANDIDATES:
            text = _try(data, candidate)
            if text is not None and _plausible(text):
                return text
    try:
        best = from_bytes(data).best()
    except Exception:  # the detector is a heuristic; a bug in it must not lose the message
        best = None
    if best is not None and best.encoding:
        enc = normalise_charset(best.encoding) or best.encoding
        text = _try(data, enc)
        return text if text is not None else str(best)
    for candidate in _SHORT_TEXT_CANDIDATES:  # cp1252 decodes all but five bytes; latin-1 the rest
        text = _try(data, candidate)
        if text is not None:
            return text
    return data.decode("latin-1")


def decode_surrogates(text: str, hints: Iterable[str | None] = ()) -> str:
    """Re-decode text that the stdlib parser kept as surrogate escapes (raw 8-bit header bytes)."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return decode_bytes(text.encode("utf-8", "surrogateescape"), None, hints)
