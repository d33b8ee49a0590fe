"""Turn a MIME part's bytes into text the way Chinese mail actually needs.

Mail clients label GBK text as GB2312 and HKSCS text as Big5 all the time; decoding with the label
as written loses characters. We widen those labels to their supersets, trust a label only if the
bytes decode cleanly with it, and otherwise ask a maintained detector (charset-normalizer).
"""
from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

# Labels that real mail uses for a narrower charset than the bytes actually are.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "hz-gb-2312": "hz",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cp950": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
}


def normalise_charset(label: str | None) -> str | None:
    if not label:
        return None
    name = label.strip().strip('"').lower()
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode `data`; never raises and only substitutes U+FFFD for bytes no charset explains."""
    if not data:
        return ""
    charset = normalise_charset(declared)
    if charset:
        try:
            return data.decode(charset)
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is not None and best.encoding:
        enc = normalise_charset(best.encoding) or best.encoding
        try:
            return data.decode(enc)
        except (UnicodeDecodeError, LookupError):
            return str(best)
    return data.decode(charset or "utf-8", errors="replace")
