"""Raw RFC 5322 bytes to a `ParsedMessage`: headers, readable text, attachments, newest part.

mail-parser reads the headers (RFC 2047 words, dates, address lists); we walk the MIME tree
ourselves so that each text part is decoded with `charsets.decode_bytes`, which knows how Chinese
mail mislabels its charset, Outlook's winmail.dat is opened into what it carries, and a forwarded
message (message/rfc822) is both an attachment and readable text. Anything unparseable raises
`ParseError` with a reason a person can act on; the caller quarantines the raw bytes, so nothing is
lost.
"""
from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import mimetypes
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from email.header import Header, decode_header
from email.message import Message
from email.utils import getaddresses, parseaddr

import html2text
import mailparser

from triage.automail import classify_auto
from triage.charsets import decode_bytes, decode_surrogates, normalise_charset
from triage.newest import newest_part

MAX_TEXT_CHARS = 200_000
MAX_FORWARD_DEPTH = 5  # forwards of forwards; deeper ones stay attachments without their text read
FORWARD_MARKER = "---------- Forwarded message ----------"

# mail-parser logs every part type it does not render, tnefparse every odd attribute; our own log
# says what happened instead.
logging.getLogger("mailparser").setLevel(logging.CRITICAL)
logging.getLogger("tnefparse").setLevel(logging.CRITICAL)

_PHOTO_NAME = re.compile(r"\.(jpe?g|png|heic|heif|gif|bmp|webp|tiff?)$", re.I)


class ParseError(ValueError):
    """The bytes are not a message we can read; the reason says why."""


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    size: int
    is_photo: bool
    inline: bool = False  # shown in the body (Content-Disposition: inline / cid: image), not attached
    content_id: str = ""
    inside: str = ""  # name of the forwarded message or winmail.dat that carried it, if any


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
    text: str  # own text, then each forwarded message's text after FORWARD_MARKER
    newest: str
    attachments: tuple[Attachment, ...]
    auto: str | None
    content_sha256: str
    headers: dict[str, str] = field(repr=False, default_factory=dict)
    forwarded_text: str = ""  # the forwarded messages' text alone (also at the end of `text`)
    # The bytes of each attachment, in the order of `attachments`: for `attachments.save_attachments`;
    # never printed, compared or put in JSON.
    payloads: tuple[bytes, ...] = field(repr=False, compare=False, default=())

    @property
    def has_photos(self) -> bool:
        return any(a.is_photo for a in self.attachments)

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("headers")
        d.pop("payloads")
        d["date"] = self.date.isoformat() if self.date else None
        return d


# ---- headers ---------------------------------------------------------------------------------


def _header_text(value: object, hints: Iterable[str | None] = ()) -> str:
    """RFC 2047 words decoded with our charset rules (GB2312 read as GB18030, ...), raw 8-bit guessed."""
    if value is None:
        return ""
    hints = tuple(hints)
    if isinstance(value, Header):
        # compat32 keeps undecodable 8-bit headers as "unknown-8bit" chunks
        chunks = [(b if isinstance(b, bytes) else str(b).encode("utf-8", "surrogateescape"), str(c) if c else None)
                  for b, c in value._chunks]
        if any(c in ("unknown-8bit", None) for _, c in chunks):
            value = "".join(decode_bytes(b, None if c in ("unknown-8bit", None) else c, hints) for b, c in chunks)
        else:
            value = str(value)
    text = decode_surrogates(str(value), hints)
    try:
        parts = decode_header(text)
    except Exception:  # malformed encoded words: keep what is there rather than fail the message
        return _unfold(text)
    if not any(c for _, c in parts):
        return _unfold(text)
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
        elif charset is None:  # the text between encoded words, which decode_header re-encoded
            out.append(chunk.decode("raw-unicode-escape", errors="replace"))
        else:
            out.append(decode_bytes(chunk, charset, hints))
    return _unfold("".join(out))


def _unfold(text: str) -> str:
    return re.sub(r"\r?\n[ \t]*", " ", text).replace("\x00", "")


def _msgids(value: str) -> tuple[str, ...]:
    return tuple(re.findall(r"<[^<>\s]+>", value or ""))


def _raw_header(part: Message, name: str) -> str | None:
    """The header as received (surrogate-escaped 8-bit kept), not compat32's FFFD-filled rendering."""
    for k, v in part.raw_items():
        if k.lower() == name:
            return str(v)
    return None


def _param(part: Message, header: str, param: str, hints: tuple[str, ...]) -> str:
    """A parameter such as filename, with RFC 2231 (filename*=gb2312''%D6%D0), RFC 2047 or raw 8-bit."""
    raw = _raw_header(part, header)
    if raw is None:
        return ""
    probe = Message()
    probe[header] = _unfold(decode_surrogates(raw, hints))
    try:
        value = probe.get_param(param, header=header)
    except Exception:
        return ""
    if isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded text)
        charset, _, text = value
        try:
            data = text.encode("latin-1")
        except UnicodeEncodeError:
            return _header_text(text, hints)
        return decode_bytes(data, charset or None, hints)
    return _header_text(email.utils.unquote(value), hints) if value else ""


# ---- bodies ----------------------------------------------------------------------------------

# Content that must never reach the text: html2text skips script/style already, but not noscript,
# template or a head with odd tags, and an HTML comment may hold a whole conditional Outlook block.
_HTML_INVISIBLE = re.compile(r"<(script|style|head|noscript|template|title|xml)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_HTML_UNCLOSED = re.compile(r"<(script|style)\b.*\Z", re.I | re.S)


def html_to_text(html: str) -> str:
    """Readable text from HTML mail: no markup, no CSS or script, blockquotes as `>` lines."""
    html = _HTML_UNCLOSED.sub("", _HTML_INVISIBLE.sub(" ", html))
    conv = html2text.HTML2Text()
    conv.ignore_images = True
    conv.ignore_emphasis = True
    conv.ignore_links = False
    conv.body_width = 0
    conv.unicode_snob = True
    conv.single_line_break = False
    try:
        text = conv.handle(html)
    except Exception:  # html2text is a best-effort converter; tags stripped is still readable
        text = re.sub(r"<[^>]+>", " ", html)
    text = text.replace("\xa0", " ").replace("\u200b", "")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def rtf_to_text(rtf: bytes) -> str:
    """Text of an RTF body (Outlook's own format inside winmail.dat), in the RTF's declared code page."""
    from striprtf.striprtf import rtf_to_text as strip

    m = re.search(rb"\\ansicpg(\d+)", rtf[:4096])
    codec = normalise_charset(f"cp{int(m.group(1))}") if m else None
    codec = codec or "cp1252"
    source = rtf.decode("latin-1")  # striprtf reads \'xx escapes itself, in `encoding`
    try:
        text = strip(source, encoding=codec, errors="replace")
    except Exception:
        return ""
    if "<html" in text.lower() or "<div" in text.lower():  # RTF that encapsulates HTML (\fromhtml1)
        text = html_to_text(text)
    return text.replace("\r\n", "\n").strip()


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


def _is_photo(ctype: str, name: str) -> bool:
    return ctype.startswith("image/") or bool(_PHOTO_NAME.search(name))


def _guess_type(name: str) -> str:
    return (mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream").lower()


@dataclass
class _Body:
    """What a walk of one message collects; forwarded messages get their own `_Body`."""

    hints: tuple[str, ...]
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    forwards: list[str] = field(default_factory=list)

    def add(self, att: Attachment, data: bytes) -> None:
        self.attachments.append(att)
        self.payloads.append(data)

    def own_text(self) -> str:
        text = "\n\n".join(t for t in self.texts if t.strip())
        if not text.strip() and self.htmls:
            text = "\n\n".join(html_to_text(h) for h in self.htmls)
        return text.replace("\r\n", "\n").replace("\r", "\n")


def _leaves(msg: Message) -> Iterator[Message]:
    """Leaf parts, and message/rfc822 parts whole: their insides belong to the forwarded message."""
    ctype = (msg.get_content_type() or "").lower()
    payload = msg.get_payload()
    if ctype in ("message/rfc822", "message/global"):
        yield msg
    elif isinstance(payload, list):
        for sub in payload:
            if isinstance(sub, Message):
                yield from _leaves(sub)
    else:
        yield msg


def _declared_charsets(msg: Message) -> tuple[str, ...]:
    seen: list[str] = []
    for part in _leaves(msg):
        cs = part.get_param("charset")
        cs = cs if isinstance(cs, str) else None
        if cs and cs.lower() not in seen and normalise_charset(cs):
            seen.append(cs.lower())
    return tuple(seen)


def _walk(msg: Message, body: _Body, depth: int) -> None:
    for part in _leaves(msg):
        ctype = (part.get_content_type() or "text/plain").lower()
        disposition = str(part.get("Content-Disposition") or "").lower()
        name = _param(part, "content-disposition", "filename", body.hints) or _param(part, "content-type", "name", body.hints)
        if ctype in ("message/rfc822", "message/global"):
            _forwarded(part, name, body, depth)
        elif ctype.startswith("text/") and not name and "attachment" not in disposition:
            text = decode_bytes(_part_bytes(part), part.get_content_charset(), body.hints)
            (body.htmls if ctype == "text/html" else body.texts).append(text)
        elif ctype == "application/ms-tnef" or name.lower() == "winmail.dat":
            _tnef(_part_bytes(part), name or "winmail.dat", body)
        else:
            data = _part_bytes(part)
            cid = str(part.get("Content-ID") or "").strip().strip("<>")
            body.add(Attachment(name=name or f"unnamed.{ctype.split('/')[-1]}", content_type=ctype, size=len(data),
                                is_photo=_is_photo(ctype, name), inline="inline" in disposition or bool(cid and not name),
                                content_id=cid), data)


def _forwarded(part: Message, name: str, body: _Body, depth: int) -> None:
    """A forwarded mail: listed as an .eml attachment, its text and attachments read too."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload and isinstance(payload[0], Message) else None
    if inner is None:
        data = _part_bytes(part)
        inner = email.message_from_bytes(data, policy=email.policy.compat32) if data.strip() else None
    else:
        try:
            data = inner.as_bytes()
        except Exception:  # a broken inner message the generator cannot write back
            data = _part_bytes(part)
    subject = _header_text(inner.get("Subject"), body.hints) if inner is not None else ""
    label = name or f"{subject[:80] or 'forwarded message'}.eml"
    body.add(Attachment(name=label, content_type="message/rfc822", size=len(data), is_photo=False), data)
    if inner is None or depth >= MAX_FORWARD_DEPTH:
        return
    sub = _Body(hints=_declared_charsets(inner) + body.hints)
    _walk(inner, sub, depth + 1)
    for att, blob in zip(sub.attachments, sub.payloads):
        body.add(att if att.inside else _replace(att, inside=label), blob)
    head = "\n".join(f"{k}: {_header_text(inner.get(k), sub.hints)}" for k in ("From", "Date", "Subject", "To")
                     if inner.get(k) is not None)
    inner_text = "\n\n".join(t for t in (sub.own_text(), *sub.forwards) if t.strip())
    body.forwards.append(f"{FORWARD_MARKER}\n{head}\n\n{inner_text}".strip())


def _replace(att: Attachment, **changes: object) -> Attachment:
    return Attachment(**{**asdict(att), **changes})


def _tnef(data: bytes, name: str, body: _Body) -> None:
    """Outlook's winmail.dat: its attachments and body replace it; unreadable, it stays as it is."""
    try:
        from tnefparse import TNEF

        tnef = TNEF(data)
        files = [(_tnef_name(a), bytes(a.data or b"")) for a in tnef.attachments]
        text = _tnef_body(tnef)
        if not files and not text.strip():
            raise ValueError("nothing inside")
    except Exception:  # tnefparse on a truncated or foreign file: keep the bytes as an attachment
        body.add(Attachment(name=name, content_type="application/ms-tnef", size=len(data), is_photo=False), data)
        return
    if text.strip():
        body.texts.append(text)
    for fname, blob in files:
        ctype = _guess_type(fname)
        body.add(Attachment(name=fname, content_type=ctype, size=len(blob), is_photo=_is_photo(ctype, fname),
                            inside=name), blob)


def _tnef_name(att: object) -> str:
    name = att.long_filename() or getattr(att, "name", "") or "attachment"  # type: ignore[attr-defined]
    if isinstance(name, bytes):
        name = decode_bytes(name.split(b"\x00")[0])
    return str(name).split("\x00")[0].strip() or "attachment"


def _tnef_body(tnef: object) -> str:
    """Plain body if Outlook wrote one, else the HTML one, else the (usual) compressed RTF."""
    plain = getattr(tnef, "body", None)
    if plain:
        return plain if isinstance(plain, str) else decode_bytes(plain)
    html = getattr(tnef, "htmlbody", None)
    if html:
        return html_to_text(html if isinstance(html, str) else decode_bytes(html))
    rtf = tnef.rtfbody  # type: ignore[attr-defined]
    if rtf and rtf.lstrip().startswith(b"{\\rtf"):
        return rtf_to_text(rtf)
    return ""


# ---- the message -----------------------------------------------------------------------------


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


def iter_attachment_payloads(raw: bytes) -> Iterator[tuple[Attachment, bytes]]:
    """Each attachment with its bytes, for callers that kept only the raw message."""
    m = parse_message(raw)
    yield from zip(m.attachments, m.payloads)


def _read_mime(raw: bytes) -> tuple[Message, object | None]:
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
        return mp.message, mp
    except Exception as e:  # mail-parser gives up on some broken mail the stdlib still reads
        try:
            return email.message_from_bytes(raw, policy=email.policy.compat32), None
        except Exception as e2:  # pragma: no cover - the stdlib parser is very lenient
            raise ParseError(f"MIME structure unreadable: {e2}") from e


def _date(msg: Message, mp: object | None, hints: tuple[str, ...]) -> datetime | None:
    if mp is not None:
        try:
            if mp.date:  # type: ignore[attr-defined]
                return mp.date  # type: ignore[attr-defined]
        except Exception:
            pass
    value = _header_text(msg.get("Date"), hints)
    try:
        return email.utils.parsedate_to_datetime(value) if value else None
    except Exception:
        return None


def _parse(raw: bytes) -> ParsedMessage:
    msg, mp = _read_mime(raw)
    hints = _declared_charsets(msg)
    headers: dict[str, str] = {}
    for k, v in msg.items():
        if k not in headers:
            headers[k] = _header_text(v, hints)
    if not any(re.fullmatch(r"[A-Za-z0-9-]{1,76}", k) for k in headers):
        raise ParseError("no valid header fields found")

    def h(name: str) -> str:
        return _header_text(msg.get(name), hints)

    subject = h("Subject")
    name, addr = parseaddr(h("From"))
    to = tuple(a.lower() for _, a in getaddresses([_header_text(v, hints) for v in msg.get_all("To", [])]) if a)
    body = _Body(hints=hints)
    _walk(msg, body, 0)
    own = body.own_text()
    forwarded = "\n\n".join(body.forwards)
    text = "\n\n".join(t for t in (own, forwarded) if t.strip())[:MAX_TEXT_CHARS]
    sender = addr.lower()
    return ParsedMessage(
        message_id=(_msgids(h("Message-ID")) or ("",))[0],
        subject=subject,
        sender=sender,
        sender_name=name,
        to=to,
        date=_date(msg, mp, hints),
        in_reply_to=(_msgids(h("In-Reply-To")) or ("",))[0],
        references=_msgids(h("References")),
        text=text,
        newest=newest_part(text),
        attachments=tuple(body.attachments),
        auto=classify_auto(headers, sender, subject, h("Content-Type")),
        content_sha256=hashlib.sha256(bytes(raw)).hexdigest(),
        headers=headers,
        forwarded_text=forwarded[:MAX_TEXT_CHARS],
        payloads=tuple(body.payloads),
    )
