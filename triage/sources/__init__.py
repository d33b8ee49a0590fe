"""Where mail comes from. Every source yields `RawItem`s and is told when one is safely processed.

The pipeline never knows which source it is reading: a Maildir on disk and an IMAP folder look the
same from here, and the same contract tests run against both.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class RawItem:
    key: str  # stable within the source: Maildir unique name, or "<folder>/<uidvalidity>/<uid>"
    raw: bytes
    folder: str = ""
    uid: int = 0
    oversize: int = 0  # bytes, when the message was over the size limit and not read


class Source(Protocol):
    name: str

    def fetch_new(self, session: Session) -> Iterator[RawItem]:
        """Messages this source has not handed over before (the database says which)."""
        ...

    def mark_done(self, item: RawItem, session: Session) -> None:
        """Called inside the transaction that finished `item`: move the checkpoint forward."""
        ...

    def close(self) -> None: ...

    # Optional: `flush()` is called after each commit of recorded messages (IMAP sets its keyword then).


def open_source(cfg, max_bytes: int = 25 * 1024 * 1024) -> Source:
    from triage.config import SourceConfig

    assert isinstance(cfg, SourceConfig)
    if cfg.kind == "maildir":
        from triage.sources.maildir import MaildirSource

        return MaildirSource(cfg.name, cfg.path, max_bytes=max_bytes)
    from triage.sources.imap import ImapSource

    return ImapSource(cfg, max_bytes=max_bytes)
