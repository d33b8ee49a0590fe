"""Store a message's attachments under the data folder, safely.

A file name in a mail is written by a stranger: it may hold a path ("../../etc/passwd",
"C:\\x\\y.exe"), NUL or control characters, a Windows device name (CON, NUL, COM1), a trailing dot
or be thousands of characters long. None of that may reach the file system, so every name is
rebuilt from its last path component's safe characters, made unique within the folder, and kept
short while its extension survives (staff open files by extension). Sizes are capped per
attachment and per message so one mail cannot fill the disk; what is not written is still
reported, with the reason, so a person knows it exists.
"""
from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from triage.parse import Attachment, ParsedMessage, parse_message

MAX_NAME_BYTES = 150  # well under the 255-byte limit of ext4/NTFS, leaving room for a "-12" suffix
_RESERVED = {"con", "prn", "aux", "nul", "clock$", "conin$", "conout$",
             *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_UNSAFE = re.compile(r'[\x00-\x1f\x7f-\x9f<>:"/\\|?*]')


@dataclass(frozen=True)
class SavedAttachment:
    name: str  # as the mail gave it (decoded), for display
    content_type: str
    size: int
    is_photo: bool
    path: Path | None  # where it was written; None when skipped
    skipped: str | None = None  # why it was not written

    def to_json(self) -> dict:
        return {"name": self.name, "content_type": self.content_type, "size": self.size, "is_photo": self.is_photo,
                "path": str(self.path) if self.path else None, "skipped": self.skipped}


def safe_name(name: str, fallback: str = "attachment") -> str:
    """A file name with no path, no control or reserved characters, no device name, at most MAX_NAME_BYTES."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name.replace("\x00", ""))[-1]  # the last path component only
    name = _UNSAFE.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")  # Windows drops trailing dots/spaces; leading dots hide files
    if not name or set(name) <= {".", "_", " "}:
        name = fallback
    stem, ext = _split_ext(name)
    if stem.split(".")[0].strip().lower() in _RESERVED:
        stem = f"_{stem}"
    return _shorten(stem, ext)


def _split_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if dot and stem and 0 < len(ext) <= 10 and re.fullmatch(r"[\w-]+", ext):
        return stem, "." + ext
    return name, ""


def _shorten(stem: str, ext: str, limit: int = MAX_NAME_BYTES) -> str:
    while len((stem + ext).encode("utf-8")) > limit and stem:
        stem = stem[:-1]
    return (stem.rstrip(" .") or "attachment") + ext


def _unique(folder: Path, name: str, taken: set[str]) -> str:
    """Never overwrite: a second "photo.jpg" becomes "photo-2.jpg" (case-insensitively, for Windows/macOS)."""
    stem, ext = _split_ext(name)
    candidate, n = name, 1
    while candidate.lower() in taken or (folder / candidate).exists():
        n += 1
        candidate = _shorten(stem, f"-{n}{ext}", MAX_NAME_BYTES + 8)
    taken.add(candidate.lower())
    return candidate


def _pairs(message: bytes | ParsedMessage) -> Iterable[tuple[Attachment, bytes]]:
    parsed = parse_message(message) if isinstance(message, (bytes, bytearray)) else message
    return zip(parsed.attachments, parsed.payloads)


def save_attachments(
    message: bytes | ParsedMessage,
    folder: str | os.PathLike[str],
    max_per_message: int,
    max_per_attachment: int,
) -> list[SavedAttachment]:
    """Write each attachment into `folder` (created if needed); one entry per attachment, in order.

    Limits are in bytes. Attachments are taken in message order; one that would pass the per-message
    total is skipped and later smaller ones may still fit. Raises `ParseError` for unreadable raw bytes
    and `OSError` if the folder cannot be written: the caller decides whether that quarantines.
    """
    out: list[SavedAttachment] = []
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    real_root = root.resolve()
    taken: set[str] = set()
    total = 0
    for att, data in _pairs(message):
        reason = None
        if len(data) > max_per_attachment:
            reason = f"attachment is {len(data)} bytes, over the {max_per_attachment} byte limit per attachment"
        elif total + len(data) > max_per_message:
            reason = f"message attachments would pass the {max_per_message} byte limit per message"
        if reason is not None:
            out.append(SavedAttachment(att.name, att.content_type, len(data), att.is_photo, None, reason))
            continue
        fallback = f"attachment{len(out) + 1}"
        target = root / _unique(root, safe_name(att.name, fallback), taken)
        if target.resolve().parent != real_root:  # belt and braces: safe_name already removed any path
            out.append(SavedAttachment(att.name, att.content_type, len(data), att.is_photo, None, "unsafe file name"))
            continue
        with open(target, "xb") as f:  # "x": never follow or replace something already there
            f.write(data)
        total += len(data)
        out.append(SavedAttachment(att.name, att.content_type, len(data), att.is_photo, target))
    return out
