"""The database schema (SQLAlchemy 2). Only `store.py` reads and writes these tables.

A message row is written the moment a message is fetched, before any parsing, so that a crash can
never lose one; its `status` then moves forward (received -> processed | skipped | failed) in the
same transaction as everything that processing creates.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Checkpoint(Base):
    """How far each IMAP folder has been read: resumes without re-fetching, resets on UIDVALIDITY change."""

    __tablename__ = "checkpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    folder: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(Integer, default=0)
    last_uid: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    __table_args__ = (UniqueConstraint("source", "folder"),)


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str | None] = mapped_column(String(40), unique=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default="new")
    category: Mapped[str | None] = mapped_column(String(40))
    secondary: Mapped[list] = mapped_column(JSON, default=list)
    severity: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(10))
    customer: Mapped[str] = mapped_column(String(320), index=True)
    customer_name: Mapped[str] = mapped_column(String(320), default="")
    customer_domain: Mapped[str] = mapped_column(String(255), default="", index=True)
    customer_company: Mapped[str] = mapped_column(String(320), default="")
    key_account: Mapped[bool] = mapped_column(Boolean, default=False)
    subject: Mapped[str] = mapped_column(Text, default="")
    order_numbers: Mapped[list] = mapped_column(JSON, default=list)
    other_refs: Mapped[list] = mapped_column(JSON, default=list)  # B/L, AWB, container, tracking
    product: Mapped[str] = mapped_column(String(500), default="")
    quantity_affected: Mapped[str] = mapped_column(String(100), default="")
    quantity_ordered: Mapped[str] = mapped_column(String(100), default="")
    amounts: Mapped[list] = mapped_column(JSON, default=list)
    remedy: Mapped[list] = mapped_column(JSON, default=list)
    assignee: Mapped[str] = mapped_column(String(200), default="")
    department: Mapped[str] = mapped_column(String(200), default="")
    last_inbound_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_outbound_at: Mapped[datetime | None] = mapped_column(DateTime)
    silent_flagged_at: Mapped[datetime | None] = mapped_column(DateTime)
    facts: Mapped[dict] = mapped_column(JSON, default=dict)
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    labels_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    messages: Mapped[list["Message"]] = relationship(back_populates="case", order_by="Message.id")
    drafts: Mapped[list["Draft"]] = relationship(back_populates="case", order_by="Draft.id")
    events: Mapped[list["Event"]] = relationship(back_populates="case", order_by="Event.id")


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    source_key: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="received", index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(998), default="", index=True)
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)  # kept only for quarantined messages
    subject: Mapped[str] = mapped_column(Text, default="")
    sender: Mapped[str] = mapped_column(String(320), default="")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    language: Mapped[str | None] = mapped_column(String(10))
    is_complaint: Mapped[bool | None] = mapped_column(Boolean)
    category: Mapped[str | None] = mapped_column(String(40))
    severity: Mapped[str | None] = mapped_column(String(20))
    newest: Mapped[str | None] = mapped_column(Text)
    understanding: Mapped[dict | None] = mapped_column(JSON)
    direction: Mapped[str] = mapped_column(String(4), default="in")  # in | out (our reply, sent by triage or a mail client)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    case: Mapped[Case | None] = relationship(back_populates="messages")
    attachments: Mapped[list["Attachment"]] = relationship(back_populates="message", order_by="Attachment.id")
    __table_args__ = (UniqueConstraint("source", "source_key"),)


class Attachment(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_db_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer, default=0)
    is_photo: Mapped[bool] = mapped_column(Boolean, default=False)
    path: Mapped[str | None] = mapped_column(String(1000))  # under data_dir, when stored
    message: Mapped[Message] = relationship(back_populates="attachments")


class Mailbox(Base):
    """A configured mail source as the database knows it (names survive config edits)."""

    __tablename__ = "mailboxes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class LabelChange(Base):
    """Labelled history: every confirmation or correction of a case's labels by a person."""

    __tablename__ = "label_history"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    field: Mapped[str] = mapped_column(String(40))  # is_complaint | category | secondary | severity
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Draft(Base):
    __tablename__ = "drafts"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | approved | rejected | sent
    language: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    in_reply_to: Mapped[str] = mapped_column(String(998), default="")
    references: Mapped[list] = mapped_column(JSON, default=list)
    guard: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)
    to_address: Mapped[str] = mapped_column(String(320), default="")
    edited_by: Mapped[str | None] = mapped_column(String(200))
    rejected_reason: Mapped[str | None] = mapped_column(Text)
    imap_folder: Mapped[str | None] = mapped_column(String(500))
    imap_uid: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(String(998))  # of the draft / sent reply
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    case: Mapped[Case] = relationship(back_populates="drafts")


class Event(Base):
    """Audit trail: every change to a case, with who and when."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200), default="triage")
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    case: Mapped[Case | None] = relationship(back_populates="events")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        from pathlib import Path

        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _):  # WAL: the CLI can read while the worker writes
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL survives any crash of the process (the worker's failure mode); only an OS
            # crash or power loss can drop the last commits, and those messages are then fetched again.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

    from triage.migrate import ensure_schema

    ensure_schema(engine)
    return engine


def make_sessionmaker(url: str) -> sessionmaker:
    return sessionmaker(make_engine(url), expire_on_commit=False)
