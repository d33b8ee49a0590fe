"""An IMAP folder read through imapclient, resumable by UID.

Fetches use BODY.PEEK[] so that reading never marks mail as seen for the people who share the
inbox. The checkpoint (UIDVALIDITY, last UID) lives in the database and moves forward in the same
transaction that records the message; the `$Triaged` keyword is only a courtesy for mail clients.
A poll first compares UIDNEXT with the checkpoint, so "nothing new" costs one SELECT whatever the
folder's size.

The worker runs for months against servers that restart, so a dropped connection is expected, not
exceptional: it is re-opened with exponential backoff and the folder is re-read from the database
checkpoint, which is exactly where the last finished message left it, so nothing is lost or
repeated. Certificate and login failures are not retried: waiting does not fix them.
"""
from __future__ import annotations

import imaplib
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import date

from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from sqlalchemy.orm import Session

from triage.config import SourceConfig
from triage.db import Checkpoint
from triage.log import event
from triage.sources import RawItem
from triage.sources.oauth import CachedTokenProvider, token_provider_for
from triage.store import get_checkpoint

log = logging.getLogger("triage.imap")

MAX_BACKOFF_SECONDS = 60.0
MAX_IDLE_SECONDS = 25 * 60  # RFC 2177: servers may drop an IDLE after 30 minutes
# imaplib.IMAP4.abort is what a server's BYE or a closed socket turns into; OSError covers resets.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, imaplib.IMAP4.abort, socket.timeout, EOFError)


class ImapCertificateError(ConnectionError):
    """The server's certificate is not trusted: a configuration problem, never retried."""


class ImapConnectError(ConnectionError):
    """The server stayed unreachable through every reconnect attempt."""


def is_transient(exc: BaseException) -> bool:
    permanent = (ssl.SSLCertVerificationError, ImapCertificateError, ImapConnectError)
    return isinstance(exc, TRANSIENT_ERRORS) and not isinstance(exc, permanent)


class ImapSource:
    kind = "imap"

    def __init__(self, cfg: SourceConfig, max_bytes: int = 25 * 1024 * 1024,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.max_bytes = max_bytes
        self._sleep = sleep
        self._client: IMAPClient | None = None
        self._tokens: CachedTokenProvider | None = token_provider_for(cfg) if cfg.auth == "xoauth2" else None
        self._uidnext_seen: dict[str, int] = {}  # per folder, at the last poll: lets IDLE notice mail in between
        self._selected: str | None = None  # the folder this connection has open, with its EXISTS count
        self._exists: dict[str, int] = {}
        self._unflagged: list[int] = []  # recorded but not yet given the processed keyword (sent per batch)
        self._checkpoints: dict[str, Checkpoint] = {}  # the row mark_done moves, looked up once per session

    # ---- connection -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.cfg.port or (993 if self.cfg.security == "ssl" else 143)

    def _ssl_context(self) -> ssl.SSLContext:
        # create_default_context verifies the chain and the host name; ca_file adds a private CA.
        return ssl.create_default_context(cafile=self.cfg.ca_file or None)

    def connect(self) -> IMAPClient:
        """The open connection, or a new one (with backoff while the server is unreachable)."""
        if self._client is None:
            self._client = self._connect_with_backoff()
        return self._client

    def _connect_with_backoff(self) -> IMAPClient:
        delay = self.cfg.reconnect_backoff_seconds
        for attempt in range(1, self.cfg.reconnect_attempts + 1):
            try:
                return self._open()
            except Exception as e:
                if not is_transient(e):
                    raise
                if attempt == self.cfg.reconnect_attempts:
                    raise ImapConnectError(f"IMAP server {self.cfg.host}:{self.port} unreachable after {attempt} "
                                           f"attempts: {type(e).__name__}: {e}") from e
                event(log, "imap_reconnect_wait", logging.WARNING, source=self.name, attempt=attempt,
                      seconds=f"{delay:g}", error=f"{type(e).__name__}: {e}")
                self._sleep(delay)
                delay = min(max(delay, 0.1) * 2, MAX_BACKOFF_SECONDS)
        raise AssertionError("unreachable")

    def _open(self) -> IMAPClient:
        try:
            return self._open_once()
        except LoginError:
            if self._tokens is None:
                raise
        # A token revoked before its announced expiry: one fresh token, on a fresh connection
        # (servers slow down repeated failures on one connection).
        self._tokens.invalidate()
        event(log, "imap_token_refused", logging.WARNING, source=self.name, user=self.cfg.username)
        return self._open_once()

    def _open_once(self) -> IMAPClient:
        cfg = self.cfg
        implicit = cfg.security == "ssl"
        try:
            client = IMAPClient(cfg.host, port=self.port, ssl=implicit,
                                ssl_context=self._ssl_context() if implicit else None, timeout=60)
            try:
                if cfg.security == "starttls":
                    client.starttls(self._ssl_context())
                self._authenticate(client)
            except BaseException:
                _shutdown(client)
                raise
        except ssl.SSLCertVerificationError as e:
            raise ImapCertificateError(
                f"TLS certificate of {cfg.host}:{self.port} could not be verified ({e.verify_message}); if the "
                f"server uses a private CA, set sources.{self.name}.ca_file to that CA's certificate") from e
        event(log, "imap_connected", source=self.name, host=cfg.host, port=self.port, security=cfg.security,
              user=cfg.username, auth=cfg.auth)
        return client

    def _authenticate(self, client: IMAPClient) -> None:
        if self._tokens is None:
            client.login(self.cfg.username, self.cfg.password())
        else:
            client.oauth2_login(self.cfg.username, self._tokens.token())

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.logout()
            except Exception:
                _shutdown(self._client)
            self._client = None
            self._selected = None

    def _drop(self, error: BaseException, where: str) -> None:
        """Forget a connection that broke; the next `connect()` opens a new one."""
        event(log, "imap_connection_lost", logging.WARNING, source=self.name, during=where,
              error=f"{type(error).__name__}: {error}")
        if self._client is not None:
            _shutdown(self._client)
        self._client = None
        self._selected = None

    # ---- reading --------------------------------------------------------------------------
    def fetch_new(self, session: Session) -> Iterator[RawItem]:
        for folder in self.cfg.folders:
            yield from self._fetch_folder_resilient(session, folder)

    def _fetch_folder_resilient(self, session: Session, folder: str) -> Iterator[RawItem]:
        # Each retry starts again from the database checkpoint, which `mark_done` moved past
        # every message already handed over: the retry neither skips nor repeats one.
        drops = 0
        while True:
            try:
                yield from self._fetch_folder(session, folder)
                return
            except Exception as e:
                if not is_transient(e) or drops >= self.cfg.reconnect_attempts:
                    raise
                drops += 1
                self._drop(e, f"fetch {folder}")
                self._sleep(min(self.cfg.reconnect_backoff_seconds * drops, MAX_BACKOFF_SECONDS))

    def _quiet(self, client: IMAPClient, session: Session, folder: str) -> bool:
        """Nothing new in the folder: answered without a SELECT, from the open folder or one STATUS.

        A SELECT of a 100,000-message folder costs Dovecot ~175 ms; STATUS reports UIDNEXT and
        UIDVALIDITY for a fraction of that, and a renumbered or recreated folder shows up as a new
        UIDVALIDITY, so it is never mistaken for "no news".
        """
        cp = get_checkpoint(session, self.name, folder)
        if not cp.uidvalidity:
            return False
        if self._selected == folder:
            # The folder this connection already has open: NOOP brings the session's view up to date,
            # and when it reports nothing but flag changes, a UID range search says whether anything
            # lies past the checkpoint. Both are answered from the open index; STATUS reopens the
            # mailbox instead, which took Dovecot ~28 ms a poll once a backfill had put the processed
            # keyword on 100,000 messages, against well under 1 ms for these two.
            _, untagged = client.noop()
            if all(len(r) > 2 and r[1] == b"FETCH" for r in untagged):
                return not any(u > cp.last_uid for u in client.search(["UID", f"{cp.last_uid + 1}:*"]))
            # Anything else (new mail, expunges, "NO" for a folder deleted or recreated meanwhile):
            # leave the folder and ask STATUS, which also tells a new UIDVALIDITY.
        if self._selected is not None:
            # STATUS on the selected mailbox may answer from this session's stale view (RFC 3501
            # 6.3.10): leave it first, so the answer is the server's current state.
            try:
                client.unselect_folder()
            except Exception:
                client.close_folder()
            self._selected = None
        status = client.folder_status(folder, [b"UIDNEXT", b"UIDVALIDITY"])
        uidnext = int(status.get(b"UIDNEXT", 0) or 0)
        if int(status.get(b"UIDVALIDITY", 0)) != cp.uidvalidity or not uidnext:
            return False
        self._uidnext_seen[folder] = uidnext
        return uidnext - 1 <= cp.last_uid

    def _fetch_folder(self, session: Session, folder: str) -> Iterator[RawItem]:
        client = self.connect()
        if self._quiet(client, session, folder):
            return
        info = client.select_folder(folder, readonly=False)
        self._selected = folder
        self._exists[folder] = int(info.get(b"EXISTS", 0))
        uidvalidity = int(info.get(b"UIDVALIDITY", 0))
        uidnext = int(info.get(b"UIDNEXT", 0) or 0)
        self._uidnext_seen[folder] = uidnext
        cp = get_checkpoint(session, self.name, folder)
        if cp.uidvalidity != uidvalidity:
            self._reset_checkpoint(session, cp, folder, uidvalidity, uidnext)
        if uidnext and uidnext - 1 <= cp.last_uid:
            return
        uids = self._pending_uids(client, cp.last_uid)
        for done in range(0, len(uids), self.cfg.batch_size):
            batch = uids[done : done + self.cfg.batch_size]
            if len(uids) > self.cfg.batch_size:
                event(log, "imap_progress", source=self.name, folder=folder, done=done, total=len(uids))
            yield from self._fetch_batch(client, folder, uidvalidity, batch)
        if len(uids) > self.cfg.batch_size:
            event(log, "imap_progress", source=self.name, folder=folder, done=len(uids), total=len(uids))
        self._advance(session, folder, uidnext - 1)

    def _reset_checkpoint(self, session: Session, cp: Checkpoint, folder: str, uidvalidity: int, uidnext: int) -> None:
        if cp.uidvalidity:
            # UIDs were renumbered: read the folder again; the content hash stops duplicates.
            event(log, "uidvalidity_changed", logging.WARNING, source=self.name, folder=folder, old=cp.uidvalidity,
                  new=uidvalidity)
            cp.last_uid = 0
        elif self.cfg.start == "now":
            cp.last_uid = max(uidnext - 1, 0)
            event(log, "imap_start_from_now", source=self.name, folder=folder, skipped_up_to_uid=cp.last_uid)
        else:
            cp.last_uid = 0
        cp.uidvalidity = uidvalidity
        session.commit()

    def _pending_uids(self, client: IMAPClient, last_uid: int) -> list[int]:
        criteria: list[object] = ["UID", f"{last_uid + 1}:*"]
        if self.cfg.backfill_since:
            criteria += ["SINCE", date.fromisoformat(self.cfg.backfill_since)]
        # "n:*" always matches the highest UID even when it is below n: filter it out.
        return sorted(u for u in client.search(criteria) if u > last_uid)

    def _fetch_batch(self, client: IMAPClient, folder: str, uidvalidity: int, batch: list[int]) -> Iterator[RawItem]:
        sizes = client.fetch(batch, ["RFC822.SIZE"])
        small = [u for u in batch if int(sizes.get(u, {}).get(b"RFC822.SIZE", 0)) <= self.max_bytes]
        bodies = client.fetch(small, ["BODY.PEEK[]"]) if small else {}
        for uid in batch:
            key = f"{folder}/{uidvalidity}/{uid}"
            if uid in bodies:
                yield RawItem(key=key, raw=bodies[uid].get(b"BODY[]") or b"", folder=folder, uid=uid)
            elif uid in sizes and uid not in small:  # over the limit: quarantined unread, with its size
                size = int(sizes[uid].get(b"RFC822.SIZE", 0))
                yield RawItem(key=key, raw=b"", folder=folder, uid=uid, oversize=size)

    def _advance(self, session: Session, folder: str, uid: int) -> None:
        """Everything below the UIDNEXT seen at SELECT was searched: skip gaps (expunged, too old) for good."""
        cp = get_checkpoint(session, self.name, folder)
        if uid > cp.last_uid:
            cp.last_uid = uid
            session.commit()

    def mark_done(self, item: RawItem, session: Session) -> None:
        """Move the checkpoint (committed by the caller with the recorded message); flag later, per batch."""
        cp = self._checkpoints.get(item.folder)
        if cp is None or cp not in session:
            cp = self._checkpoints[item.folder] = get_checkpoint(session, self.name, item.folder)
        if item.uid > cp.last_uid:
            cp.last_uid = item.uid
        if self.cfg.processed_keyword and item.uid:
            self._unflagged.append(item.uid)

    def flush(self) -> None:
        """Give the recorded messages the processed keyword, in one STORE (called after the commit)."""
        uids, self._unflagged = self._unflagged, []
        if not uids or self._client is None:
            return
        try:
            self._client.add_flags(uids, [self.cfg.processed_keyword.encode()], silent=True)
        except Exception as e:  # a read-only folder, no keyword support, a dropped line: the checkpoint still holds
            event(log, "imap_flag_failed", logging.WARNING, source=self.name, uids=len(uids), error=str(e))

    # ---- waiting --------------------------------------------------------------------------
    def wait_for_news(self, timeout: float, stop: Callable[[], bool] = lambda: False) -> bool:
        """Block until the first folder may have new mail (True) or `timeout` passes (False).

        The worker calls this between polls instead of sleeping, so mail is handled within seconds
        where the server has IDLE. IDLE watches one mailbox per connection, so only the first folder
        wakes the waiter; the others are read at every poll. Any trouble returns True at once (a
        transient drop: the poll reconnects) or after the timeout (a configuration error), so the
        caller never spins.
        """
        deadline = time.monotonic() + min(timeout, MAX_IDLE_SECONDS)
        if not self.cfg.idle:
            return self._pause_until(deadline, stop)
        try:
            client = self.connect()
            if b"IDLE" not in client.capabilities():
                return self._pause_until(deadline, stop)
            return self._idle(client, self.cfg.folders[0], deadline, stop)
        except Exception as e:
            self._drop(e, "idle")
            if is_transient(e):
                return True
            self._pause_until(deadline, stop)
            return True

    def _idle(self, client: IMAPClient, folder: str, deadline: float, stop: Callable[[], bool]) -> bool:
        info = client.select_folder(folder, readonly=True)
        self._selected = folder
        uidnext = int(info.get(b"UIDNEXT", 0) or 0)
        if uidnext > self._uidnext_seen.setdefault(folder, uidnext):
            return True  # arrived after the last poll looked
        client.idle()
        news = False
        try:
            while not news and not stop():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                # Short slices so that `stop` (SIGTERM) is seen within a second.
                responses = client.idle_check(timeout=min(1.0, remaining))
                news = any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)
        finally:
            client.idle_done()
        return news

    def _pause_until(self, deadline: float, stop: Callable[[], bool]) -> bool:
        while not stop():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._sleep(min(1.0, remaining))
        return False


def _shutdown(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:
        pass
