"""The one layer that reads and writes the database: messages, cases, drafts, checkpoints, events."""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from triage.db import Case, Checkpoint, Draft, Event, Mailbox, Message, utcnow

CASE_REF = re.compile(r"\[?(C-\d{4}-\d{6})\]?")
OPEN_STATUSES = ("new", "acknowledged", "investigating", "negotiating")


_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^<>\s]+>)", re.I | re.M)


def header_message_id(raw: bytes) -> str:
    """The Message-ID from the header block, without a full parse (used before parsing)."""
    head = raw[:65536].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    m = _MESSAGE_ID.search(head)
    return m.group(1).decode("ascii", "replace") if m else ""


def already_recorded(session: Session, source: str, key: str, sha256: str, message_id: str = "") -> bool:
    """Seen before: the same key in this source, the same bytes anywhere (a UIDVALIDITY reset, a file
    copied twice), or the same Message-ID re-delivered into this mailbox with changed headers.
    One indexed query: this runs for every message fetched."""
    same = or_(
        and_(Message.source == source, Message.source_key == key),
        and_(Message.content_sha256 == sha256, Message.status != "failed"),
    )
    if message_id:
        same = or_(same, and_(Message.source == source, Message.message_id == message_id, Message.direction == "in"))
    return session.scalar(select(Message.id).where(same).limit(1)) is not None


def record_received(session: Session, source: str, key: str, raw: bytes) -> Message | None:
    """Write the message row before anything else happens to it; None if it was recorded before."""
    sha = hashlib.sha256(raw).hexdigest()
    message_id = header_message_id(raw)
    if already_recorded(session, source, key, sha, message_id):
        return None
    msg = Message(source=source, source_key=key, content_sha256=sha, size=len(raw), status="received", raw=raw,
                  message_id=message_id)
    session.add(msg)
    session.flush()
    return msg


def pending_messages(session: Session, source: str) -> list[Message]:
    """Messages recorded but never finished (the worker stopped mid-way): processed on the next pass."""
    return list(session.scalars(select(Message).where(Message.source == source, Message.status == "received").order_by(Message.id)))


def add_event(session: Session, case: Case | None, kind: str, actor: str = "triage", **detail) -> None:
    session.add(Event(case=case, kind=kind, actor=actor, detail=detail))


def find_thread_case(session: Session, subject: str, in_reply_to: str, references: tuple[str, ...]) -> Case | None:
    """The case a reply belongs to: by the message ids it answers, else by a case reference in the subject."""
    ids = [i for i in (in_reply_to, *references) if i]
    if ids:
        case_id = session.scalar(
            select(Message.case_id).where(Message.message_id.in_(ids), Message.case_id.is_not(None)).order_by(Message.id.desc()).limit(1)
        )
        if case_id is None:
            case_id = session.scalar(select(Draft.case_id).where(Draft.in_reply_to.in_(ids)).limit(1))
        if case_id is not None:
            return session.get(Case, case_id)
    m = CASE_REF.search(subject or "")
    if m:
        return session.scalar(select(Case).where(Case.ref == m.group(1)))
    return None


def find_repeat_case(session: Session, customer: str, order_numbers: tuple[str, ...]) -> Case | None:
    """An open case from the same customer about one of the same orders: a new complaint joins it, escalated."""
    if not customer or not order_numbers:
        return None
    wanted = {re.sub(r"[^0-9A-Za-z]", "", o).upper() for o in order_numbers}
    for case in session.scalars(select(Case).where(Case.customer == customer, Case.status.in_(OPEN_STATUSES)).order_by(Case.id.desc())):
        if wanted & {re.sub(r"[^0-9A-Za-z]", "", o).upper() for o in case.order_numbers}:
            return case
    return None


def sent_by_triage(session: Session, message_id: str) -> bool:
    return bool(session.scalar(select(Draft.id).where(Draft.message_id == message_id).limit(1)))


def open_case(session: Session, *, year: int, due_in_hours: float, **fields) -> Case:
    case = Case(**fields)
    case.due_at = utcnow() + timedelta(hours=due_in_hours)
    session.add(case)
    session.flush()
    case.ref = f"C-{year}-{case.id:06d}"
    add_event(session, case, "case_opened", category=case.category, severity=case.severity)
    return case


def ensure_mailbox(session: Session, name: str, kind: str) -> None:
    """The database's own list of the sources it has read, so messages keep a known origin after a config edit."""
    if session.scalar(select(Mailbox.id).where(Mailbox.name == name)) is None:
        session.add(Mailbox(name=name, kind=kind))
        session.commit()


def get_checkpoint(session: Session, source: str, folder: str) -> Checkpoint:
    cp = session.scalar(select(Checkpoint).where(Checkpoint.source == source, Checkpoint.folder == folder))
    if cp is None:
        cp = Checkpoint(source=source, folder=folder, uidvalidity=0, last_uid=0)
        session.add(cp)
        session.flush()
    return cp


def list_cases(session: Session, status: str | None = None, assignee: str | None = None) -> list[Case]:
    q = select(Case).order_by(Case.id)
    if status:
        q = q.where(Case.status == status)
    if assignee is not None:
        q = q.where(Case.assignee == assignee)
    return list(session.scalars(q))


def case_by_ref(session: Session, ref: str) -> Case | None:
    return session.scalar(select(Case).where(Case.ref == ref))


def quarantined(session: Session) -> list[Message]:
    return list(session.scalars(select(Message).where(Message.status == "failed").order_by(Message.id)))


def due_cases(session: Session, within_hours: float, now: datetime | None = None) -> list[Case]:
    now = now or utcnow()
    limit = now + timedelta(hours=within_hours)
    q = select(Case).where(Case.status.in_(OPEN_STATUSES), Case.due_at.is_not(None), Case.due_at <= limit).order_by(Case.due_at)
    return list(session.scalars(q))
