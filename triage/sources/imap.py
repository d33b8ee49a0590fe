"""An IMAP folder read through imapclient, resumable by UID.

Fetches use BODY.PEEK[] so that reading never marks mail as seen for the people who share the
inbox. The checkpoint (UIDVALIDITY, last UID) lives in the database and moves forward in the same
transaction that records the message; the `$Triaged` keyword is only a courtesy for mail clients.
A poll first compares UIDNEXT with the checkpoint, so "nothing new" costs one SELECT whatever the
folder's size.
"""
from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator

from imapclient import IMAPClient
from sqlalchemy.orm import Session

from triage.config import SourceConfig
from triage.log import event
from triage.sources import RawItem
from triage.store import get_checkpoint

log = logging.getLogger("triage.imap")


class ImapSource:
    def __init__(self, cfg: SourceConfig, max_bytes: int = 25 * 1024 * 1024) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.max_bytes = max_bytes
        self._client: IMAPClient | None = None

    # ---- connection -----------------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.cfg.ca_file or None)
        return ctx

    def connect(self) -> IMAPClient:
        if self._client is not None:
            try:
                self._client.noop()
                return self._client
            except Exception:
                self.close()
        cfg = self.cfg
        port = cfg.port or (993 if cfg.security == "ssl" else 143)
        client = IMAPClient(cfg.host, port=port, ssl=cfg.security == "ssl",
                            ssl_context=self._ssl_context() if cfg.security == "ssl" else None, timeout=60)
        if cfg.security == "starttls":
            client.starttls(self._ssl_context())
        client.login(cfg.username, cfg.password())
        event(log, "imap_connected", source=self.name, host=cfg.host, port=port, security=cfg.security, user=cfg.username)
        self._client = client
        return client

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.logout()
            except Exception:
                pass
            self._client = None

    # ---- reading --------------------------------------------------------------------------
    def fetch_new(self, session: Session) -> Iterator[RawItem]:
        client = self.connect()
        for folder in self.cfg.folders:
            info = client.select_folder(folder, readonly=False)
            uidvalidity = int(info.get(b"UIDVALIDITY", 0))
            uidnext = int(info.get(b"UIDNEXT", 0) or 0)
            cp = get_checkpoint(session, self.name, folder)
            if cp.uidvalidity != uidvalidity:
                if cp.uidvalidity:
                    # UIDs were renumbered: start again; the content hash stops duplicates.
                    event(log, "uidvalidity_changed", logging.WARNING, source=self.name, folder=folder, old=cp.uidvalidity, new=uidvalidity)
                cp.uidvalidity = uidvalidity
                cp.last_uid = 0
                session.commit()
            if uidnext and uidnext - 1 <= cp.last_uid:
                continue
            uids = [u for u in client.search(["UID", f"{cp.last_uid + 1}:*"]) if u > cp.last_uid]
            uids.sort()
            for start in range(0, len(uids), self.cfg.batch_size):
                batch = uids[start : start + self.cfg.batch_size]
                sizes = client.fetch(batch, ["RFC822.SIZE"])
                small = [u for u in batch if int(sizes.get(u, {}).get(b"RFC822.SIZE", 0)) <= self.max_bytes]
                bodies = client.fetch(small, ["BODY.PEEK[]"]) if small else {}
                for uid in batch:
                    key = f"{folder}/{uidvalidity}/{uid}"
                    if uid in bodies:
                        raw = bodies[uid].get(b"BODY[]") or b""
                        yield RawItem(key=key, raw=raw, folder=folder, uid=uid)
                    else:
                        size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
                        yield RawItem(key=key, raw=b"", folder=folder, uid=uid, oversize=size)

    def mark_done(self, item: RawItem, session: Session) -> None:
        cp = get_checkpoint(session, self.name, item.folder)
        if item.uid > cp.last_uid:
            cp.last_uid = item.uid
        if self.cfg.processed_keyword and self._client is not None:
            try:
                self._client.add_flags([item.uid], [self.cfg.processed_keyword.encode()], silent=True)
            except Exception as e:  # a read-only folder or no keyword support: the checkpoint still holds
                event(log, "imap_flag_failed", logging.WARNING, source=self.name, uid=item.uid, error=str(e))
