"""Raw RFC 5322 bytes to a `ParsedMessage`: headers, readable text, attachments, newest part.

mail-parser reads the headers (RFC 2047 words, dates, address lists); we walk the MIME tree
ourselves so that each text part is decoded with `charsets.decode_bytes`, which knows how Chinese
mail mislabels its charset. Anything unparseable raises `ParseError` with a reason a person can act
on; the caller quarantines the raw bytes, so nothing is lost.
"""
from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from email.header import Header, decode_header
from email.message import Message
from email.utils import getaddresses, parseaddr

import logging

import html2text
import mailparser

from triage.automail import classify_auto
from triage.charsets import decode_bytes
from triage.newest import newest_part

MAX_TEXT_CHARS = 200_000

# mail-parser logs every part type it does not render; our own log says what happened instead.
logging.getLogger("mailparser").setLevel(logging.CRITICAL)


class ParseError(ValueError):
    """The bytes are not a message we can read; the reason says why."""


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    size: int
    is_photo: bool


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str
    subject: str
    sender: str  # bare address, lower case
    sender_name: str
    to: tuple[str, ...]
    date: datetime | None
    in_reply_to: str
    references: tuple[str, ...]
    text: str
    newest: str
    attachments: tuple[Attachment, ...]
    auto: str | None
    content_sha256: str
    headers: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def has_photos(self) -> bool:
        return any(a.is_photo for a in self.attachments)

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("headers")
        d["date"] = self.date.isoformat() if self.date else None
        return d


def _header_text(value: object) -> str:
    """RFC 2047 words decoded with our charset rules (GB2312 read as GB18030, ...), raw 8-bit guessed."""
    if value is None:
        return ""
    if isinstance(value, Header):
        chunks = [(b if isinstance(b, bytes) else b.encode("utf-8", "surrogateescape"), str(c) if c else None)
                  for b, c in value._chunks]  # compat32 keeps undecodable 8-bit headers as "unknown-8bit" chunks
        if any(c in ("unknown-8bit", None) for _, c in chunks):
            return "".join(decode_bytes(b, None if c in ("unknown-8bit", None) else c) for b, c in chunks)
        value = str(value)
    text = str(value)
    try:
        parts = decode_header(text)
    except Exception:  # malformed encoded words: keep what is there rather than fail the message
        return text
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(decode_bytes(chunk, charset))
    joined = "".join(out) if any(c for _, c in parts) else text
    return re.sub(r"\r?\n[ \t]+", " ", joined)


def _msgids(value: str) -> tuple[str, ...]:
    return tuple(re.findall(r"<[^<>\s]+>", value or ""))


def _html_to_text(html: str) -> str:
    conv = html2text.HTML2Text()
    conv.ignore_images = True
    conv.ignore_emphasis = True
    conv.body_width = 0
    conv.unicode_snob = True
    try:
        return conv.handle(html)
    except Exception:
        return re.sub(r"<[^>]+>", " ", html)


def _part_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        if isinstance(raw, str):
            return raw.encode("utf-8", "surrogateescape")
        return b""
    return payload


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        name = part.get_param("name") if part.get_param("name") else None
        if isinstance(name, tuple):  # RFC 2231 value the stdlib left undecoded
            name = email.utils.collapse_rfc2231_value(name)
    return _header_text(name) if name else ""


def _walk(msg: Message, texts: list[str], htmls: list[str], atts: list[Attachment]) -> None:
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = (part.get_content_type() or "text/plain").lower()
        disposition = str(part.get("Content-Disposition") or "").lower()
        name = _filename(part)
        if ctype == "message/rfc822" or (ctype.startswith("text/") and not name and "attachment" not in disposition):
            if ctype == "text/html":
                htmls.append(decode_bytes(_part_bytes(part), part.get_content_charset()))
            elif ctype in ("text/plain", "text/enriched", "text/rfc822-headers") or ctype.startswith("text/"):
                texts.append(decode_bytes(_part_bytes(part), part.get_content_charset()))
            continue
        data = _part_bytes(part)
        atts.append(
            Attachment(
                name=name or f"unnamed.{ctype.split('/')[-1]}",
                content_type=ctype,
                size=len(data),
                is_photo=ctype.startswith("image/") or bool(re.search(r"\.(jpe?g|png|heic|gif|bmp|webp|tiff?)$", name, re.I)),
            )
        )


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one message. Pure: same bytes, same result; any failure is a `ParseError`."""
    try:
        return _parse(raw)
    except ParseError:
        raise
    except RecursionError as e:
        raise ParseError("MIME parts nested too deeply to read") from e
    except Exception as e:  # the boundary: a library bug on odd bytes must not crash the worker
        raise ParseError(f"unreadable message ({type(e).__name__}: {e})") from e


def _h(msg: Message, name: str) -> str:
    return _header_text(msg.get(name))


def _parse(raw: bytes) -> ParsedMessage:
    if not isinstance(raw, (bytes, bytearray)):
        raise ParseError("message is not bytes")
    raw = bytes(raw)
    if not raw.strip():
        raise ParseError("message is empty")
    head = raw[:65536]
    if b":" not in head.split(b"\n\n", 1)[0] and b":" not in head.split(b"\r\n\r\n", 1)[0]:
        raise ParseError("no header lines: this is not an RFC 5322 message")
    try:
        mp = mailparser.parse_from_bytes(raw)
        msg: Message = mp.message
    except Exception as e:  # mail-parser gives up on some broken mail the stdlib still reads
        try:
            msg = email.message_from_bytes(raw, policy=email.policy.compat32)
            mp = None
        except Exception as e2:  # pragma: no cover - the stdlib parser is very lenient
            raise ParseError(f"MIME structure unreadable: {e2}") from e
    headers = {}
    for k, v in msg.items():
        if k not in headers:
            headers[k] = _header_text(v)
    has_header_names = [k for k in headers if re.fullmatch(r"[A-Za-z0-9-]{1,76}", k)]
    if not has_header_names:
        raise ParseError("no valid header fields found")
    subject = _h(msg, "Subject")
    name, addr = parseaddr(_h(msg, "From"))
    to = tuple(a.lower() for _, a in getaddresses([_header_text(v) for v in msg.get_all("To", [])]) if a)
    date = None
    if mp is not None:
        try:
            date = mp.date
        except Exception:
            date = None
    if date is None:
        try:
            date = email.utils.parsedate_to_datetime(_h(msg, "Date")) if _h(msg, "Date") else None
        except Exception:
            date = None
    texts: list[str] = []
    htmls: list[str] = []
    atts: list[Attachment] = []
    _walk(msg, texts, htmls, atts)
    text = "\n\n".join(t for t in texts if t.strip())
    if not text.strip() and htmls:
        text = "\n\n".join(_html_to_text(h) for h in htmls)
    text = text.replace("\r\n", "\n")[:MAX_TEXT_CHARS]
    sender = addr.lower()
    auto = classify_auto(headers, sender, subject, _h(msg, "Content-Type"))
    message_id = (_msgids(_h(msg, "Message-ID")) or ("",))[0]
    return ParsedMessage(
        message_id=message_id,
        subject=subject,
        sender=sender,
        sender_name=name,
        to=to,
        date=date,
        in_reply_to=(_msgids(_h(msg, "In-Reply-To")) or ("",))[0],
        references=_msgids(_h(msg, "References")),
        text=text,
        newest=newest_part(text),
        attachments=tuple(atts),
        auto=auto,
        content_sha256=hashlib.sha256(raw).hexdigest(),
        headers=headers,
    )
