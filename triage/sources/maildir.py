"""A Maildir (cur/ and new/) or a plain folder of .eml files: the embedded default source.

Files are never changed or moved: the bundled sample mailbox stays as shipped, and the database
alone remembers what was processed (keyed by the Maildir unique name, which survives flag changes).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage.db import Message
from triage.sources import RawItem


class MaildirSource:
    kind = "maildir"

    def __init__(self, name: str, path: str | Path, max_bytes: int = 25 * 1024 * 1024) -> None:
        self.name = name
        self.path = Path(path)
        self.max_bytes = max_bytes

    def _files(self) -> list[tuple[str, Path]]:
        if not self.path.is_dir():
            raise FileNotFoundError(f"mail folder {self.path} does not exist")
        if (self.path / "cur").is_dir() or (self.path / "new").is_dir():
            files = [p for sub in ("new", "cur") for p in sorted((self.path / sub).glob("*")) if p.is_file()]
            return [(p.name.split(":", 1)[0], p) for p in files]
        files = sorted(p for p in self.path.rglob("*") if p.is_file() and p.suffix.lower() in (".eml", ".msg", ".txt", ""))
        return [(str(p.relative_to(self.path)), p) for p in files if not p.name.startswith(".")]

    def fetch_new(self, session: Session) -> Iterator[RawItem]:
        files = self._files()
        known = set(session.scalars(select(Message.source_key).where(Message.source == self.name)))
        for key, path in files:
            if key in known:
                continue
            size = path.stat().st_size
            if size > self.max_bytes:
                # Recorded as failed by the pipeline, so it is not silently dropped.
                yield RawItem(key=key, raw=path.read_bytes()[:65536], folder=str(self.path), oversize=size)
                continue
            yield RawItem(key=key, raw=path.read_bytes(), folder=str(self.path))

    def mark_done(self, item: RawItem, session: Session) -> None:
        return None

    def close(self) -> None:
        return None
