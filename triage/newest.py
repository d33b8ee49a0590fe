"""Cut a message body down to its newest part: what this sender wrote now.

LABELS.md makes the newest part the only text that counts, so quoted threads and signatures must go
before anything is classified. Mail clients mark the start of a quote in many ways; each pattern
below names a real client convention (English and Chinese). The first marker found ends the newest
part. A marker in the very first lines is ignored when nothing would remain (a pure forward keeps
the forwarded text, which is then the only thing the sender gave us).
"""
from __future__ import annotations

import re

_HEADER_FIELD = r"(from|sent|to|cc|subject|date|发件人|發件人|寄件者|收件人|收件者|发送时间|發送時間|寄件日期|日期|主题|主題|主旨|抄送|副本)\s*[:：]"

# A line that opens a quoted earlier mail.
_QUOTE_OPENERS = [
    re.compile(r"^-{2,}\s*original message\s*-{2,}", re.I),
    re.compile(r"^-{2,}\s*(forwarded message|weitergeleitete nachricht)\s*-{2,}", re.I),
    re.compile(r"^-{2,}\s*(原始邮件|原始郵件|原始信件|转发邮件|轉寄郵件|轉發郵件)\s*-{2,}"),
    re.compile(r"^_{5,}\s*$"),  # Outlook web's rule line before From:/Sent:
    re.compile(r"^(begin forwarded message|forwarded message)\s*:", re.I),
    re.compile(r"^on\b.{0,200}\bwrote\s*:\s*$", re.I),
    re.compile(r"^on\b.{0,200}$", re.I),  # checked with the next line ending in "wrote:" (wrapped clients)
    re.compile(r"^.{0,120}(写道|寫道|於.{0,60}寫道)\s*[:：]\s*$"),
    re.compile(r"^在\s?.{0,100}(写道|寫道)\s*[:：]?\s*$"),
    re.compile(r"^le .{0,200} a écrit\s*:\s*$", re.I),
    re.compile(r"^am .{0,200} schrieb .{0,100}:\s*$", re.I),
]
_FIELD_LINE = re.compile(r"^\s*\*?" + _HEADER_FIELD, re.I)
_SIGNATURE_OPENERS = [
    re.compile(r"^--\s*$"),
    re.compile(r"^(sent from my|sent from outlook|get outlook for|sent from mail for windows|发自我的|從我的\s*iphone|发自网易邮箱|來自我的)", re.I),
]
_DISCLAIMER = re.compile(
    r"^(this (e-?mail|message)( and any attachments)? (is|are|may be) (confidential|intended)|confidentiality notice|disclaimer\s*:|本邮件.{0,20}(保密|机密)|本郵件.{0,20}(保密|機密))",
    re.I,
)


def _is_quote_start(lines: list[str], i: int) -> bool:
    line = lines[i].strip()
    if not line:
        return False
    for pat in _QUOTE_OPENERS:
        if pat.match(line):
            if pat.pattern.startswith("^on\\b.{0,200}$"):
                joined = line
                for nxt in lines[i + 1 : i + 3]:
                    joined += " " + nxt.strip()
                    if re.search(r"wrote\s*:\s*$", joined, re.I):
                        return len(line) < 200
                return False
            return True
    # An Outlook/Foxmail header block: two or more "Field:" lines in a row starting with From/发件人.
    if _FIELD_LINE.match(line) and re.match(r"^\s*\*?(from|发件人|發件人|寄件者)\s*[:：]", line, re.I):
        following = [x for x in lines[i + 1 : i + 5] if x.strip()]
        return sum(bool(_FIELD_LINE.match(x)) for x in following) >= 1
    return False


def newest_part(text: str) -> str:
    """The sender's own new text: no `>` quotes, quoted headers, forwarded blocks, signature or disclaimer."""
    if not text:
        return ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, raw in enumerate(lines):
        stripped = raw.strip()
        if _is_quote_start(lines, i):
            if any(k.strip() for k in kept):
                break
            # Nothing above the marker: a bare forward. Keep reading after the header block.
            continue
        if stripped.startswith(">") or stripped.startswith("＞"):
            continue
        if not any(k.strip() for k in kept) and _FIELD_LINE.match(stripped):
            continue  # header lines of a bare forward
        if any(p.match(stripped) for p in _SIGNATURE_OPENERS) and any(k.strip() for k in kept):
            break
        if _DISCLAIMER.match(stripped) and any(k.strip() for k in kept):
            break
        kept.append(raw.rstrip())
    while kept and not kept[-1].strip():
        kept.pop()
    while kept and not kept[0].strip():
        kept.pop(0)
    return "\n".join(kept)
