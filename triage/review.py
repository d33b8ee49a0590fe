"""Staff review of drafts: list, edit, approve (guard, send, file), reject.

`approve` is the only path to the SMTP sender, and it writes the approval (who, when) to the
database before anything leaves. The guard runs on the draft as it stands at approval time, so a
person's edit is checked exactly like a generated draft.
"""
from __future__ import annotations

import email
import email.policy
import logging
import re
from collections.abc import Callable
from email.message import EmailMessage

from imapclient import IMAPClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from triage import store
from triage.config import Settings
from triage.db import Case, Draft, Message, utcnow
from triage.drafts_mailbox import append_sent, put_draft, remove_draft
from triage.guard import Violation, check_draft
from triage.log import event
from triage.mailout import build_reply, new_message_id
from triage.smtp_send import Approval, deliver
from triage.workflow import set_status

log = logging.getLogger("triage.review")
_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}

ImapFactory = Callable[[], IMAPClient | None]


class GuardBlocked(ValueError):
    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("approval blocked: " + "; ".join(str(v) for v in violations))


class ReviewError(ValueError):
    """The draft is not in a state that allows this (already sent, rejected, unknown)."""


def pending(session: Session) -> list[Draft]:
    """Drafts waiting for a person, most dangerous and most urgent first."""
    drafts = list(session.scalars(select(Draft).where(Draft.status == "pending")))
    return sorted(drafts, key=lambda d: (_SEVERITY_RANK.get(d.case.severity, 9), d.case.due_at or utcnow()))


def _get(session: Session, draft_id: int) -> Draft:
    d = session.get(Draft, draft_id)
    if d is None:
        raise ReviewError(f"no draft {draft_id}")
    return d


def edit(session: Session, draft_id: int, body: str, actor: str, subject: str | None = None) -> list[Violation]:
    d = _get(session, draft_id)
    if d.status != "pending":
        raise ReviewError(f"draft {draft_id} is {d.status}; only pending drafts can be edited")
    d.body = body
    if subject:
        d.subject = subject
    d.edited_by = actor
    found = check_draft(f"{d.subject}\n{d.body}")
    d.guard = [str(v) for v in found]
    store.add_event(session, d.case, "draft_edited", actor=actor, draft=d.id, guard=d.guard)
    session.commit()
    return found


def _reply_message(settings: Settings, d: Draft, message_id: str) -> EmailMessage:
    from_address = settings.smtp.from_address or (settings.company.own_addresses[0] if settings.company.own_addresses else "")
    if not from_address:
        raise ReviewError("no sender address: set smtp.from_address in the config")
    return build_reply(from_address=from_address, to_address=d.to_address or d.case.customer, subject=d.subject,
                       body=d.body, in_reply_to=d.in_reply_to, references=list(d.references), message_id=message_id)


def publish_draft(session: Session, settings: Settings, d: Draft, imap: IMAPClient) -> None:
    """Put one pending draft into the Drafts folder (once)."""
    if d.imap_uid is not None or d.status != "pending":
        return
    if not d.message_id:
        d.message_id = new_message_id(settings.smtp.from_address or (settings.company.own_addresses or ("triage@local",))[0])
    folder = settings.review.drafts_folder
    d.imap_uid = put_draft(imap, folder, _reply_message(settings, d, d.message_id)) or 0
    d.imap_folder = folder
    store.add_event(session, d.case, "draft_in_mailbox", folder=folder, uid=d.imap_uid)
    session.commit()
    event(log, "draft_in_mailbox", case=d.case.ref, folder=folder, uid=d.imap_uid)


def publish_pending(session: Session, settings: Settings, imap: IMAPClient) -> int:
    n = 0
    for d in session.scalars(select(Draft).where(Draft.status == "pending", Draft.imap_uid.is_(None))):
        publish_draft(session, settings, d, imap)
        n += 1
    return n


MAIL_CLIENT = "mail client (Drafts folder)"


def sync_mailbox_edits(session: Session, settings: Settings, imap: IMAPClient) -> int:
    """Read back drafts that staff changed in their mail client, so approval sends what they wrote.

    A client saves an edited draft as a new message in Drafts (IMAP cannot change one in place) and
    keeps the subject, which carries the case reference. The newest such message is taken as the
    draft; its text goes through `edit`, so the guard checks it like any other edit."""
    from triage.parse import ParseError, parse_message

    drafts = list(session.scalars(select(Draft).where(Draft.status == "pending", Draft.imap_folder.is_not(None))))
    changed = 0
    newest_by_ref: dict[str, int] = {}
    selected: str | None = None
    for d in drafts:
        if selected != d.imap_folder:
            newest_by_ref = _newest_draft_per_case(imap, d.imap_folder)
            selected = d.imap_folder
        newest = newest_by_ref.get(d.case.ref)
        if newest is None or newest == d.imap_uid:
            continue
        raw = imap.fetch([newest], ["BODY.PEEK[]"]).get(newest, {}).get(b"BODY[]")
        try:
            parsed = parse_message(raw or b"")
        except ParseError as e:
            event(log, "draft_edit_unreadable", logging.WARNING, case=d.case.ref, uid=newest, error=str(e))
            continue
        body = parsed.text.strip()
        if body and body != (d.body or "").strip():
            edit(session, d.id, body, MAIL_CLIENT, subject=parsed.subject or None)
            event(log, "draft_edited_in_mailbox", case=d.case.ref, uid=newest, guard=len(d.guard or []))
            changed += 1
        d.imap_uid = newest  # approval removes this copy from Drafts
        session.commit()
    return changed


_CASE_REF = re.compile(r"\[(C-\d{4}-\d{6,})\]")


def _newest_draft_per_case(imap: IMAPClient, folder: str) -> dict[str, int]:
    """One look at the Drafts folder per poll: the highest UID carrying each case reference."""
    imap.select_folder(folder, readonly=True)
    uids = imap.search(["ALL"])
    newest: dict[str, int] = {}
    if not uids:
        return newest
    for uid, data in imap.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]).items():
        header = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER")), b"")
        subject = str(email.message_from_bytes(header, policy=email.policy.default)["Subject"] or "")
        for ref in _CASE_REF.findall(subject):
            newest[ref] = max(uid, newest.get(ref, 0))
    return newest


def approve(session: Session, settings: Settings, draft_id: int, approver: str, imap: ImapFactory = lambda: None) -> Draft:
    approver = (approver or "").strip()
    if not approver:
        raise ReviewError("an approval must name the person approving")
    d = _get(session, draft_id)
    if d.status not in ("pending", "approved"):
        raise ReviewError(f"draft {draft_id} is {d.status}")
    client = imap() if d.imap_folder else None
    if client is not None and d.status == "pending":
        try:  # what staff last saved in their mail client is what gets checked and sent
            sync_mailbox_edits(session, settings, client)
        except Exception as e:
            event(log, "draft_sync_failed", logging.WARNING, case=d.case.ref, error=f"{type(e).__name__}: {e}")
    found = check_draft(f"{d.subject}\n{d.body}")
    if found:
        d.guard = [str(v) for v in found]
        store.add_event(session, d.case, "approval_blocked", actor=approver, draft=d.id, guard=d.guard)
        session.commit()
        raise GuardBlocked(found)
    # The approval is on record before anything is sent.
    d.status, d.approved_by, d.approved_at = "approved", approver, utcnow()
    if not d.message_id:
        d.message_id = new_message_id(settings.smtp.from_address or d.case.customer)
    store.add_event(session, d.case, "draft_approved", actor=approver, draft=d.id)
    session.commit()
    msg = _reply_message(settings, d, d.message_id)
    try:
        deliver(settings.smtp, msg, Approval(d.id, approver, d.approved_at))
    except Exception as e:
        store.add_event(session, d.case, "send_failed", actor=approver, draft=d.id, error=f"{type(e).__name__}: {e}")
        session.commit()
        event(log, "send_failed", logging.ERROR, case=d.case.ref, draft=d.id, error=str(e))
        raise
    now = utcnow()
    d.status, d.sent_at = "sent", now
    case: Case = d.case
    case.last_outbound_at = now
    session.add(Message(source="triage-sent", source_key=d.message_id, status="processed", message_id=d.message_id,
                        content_sha256="", size=len(msg.as_bytes()), subject=d.subject, sender=msg["From"],
                        direction="out", case=case, newest=d.body))
    store.add_event(session, case, "reply_sent", actor=approver, draft=d.id, message_id=d.message_id, to=d.to_address)
    if case.status == "new":
        set_status(session, case, "acknowledged", approver, "acknowledgement sent")
    session.commit()
    event(log, "reply_sent", case=case.ref, draft=d.id, approver=approver)
    if client is None:
        client = imap()
    if client is not None:
        try:
            append_sent(client, settings.review.sent_folder, msg)
            if d.imap_folder:
                remove_draft(client, d.imap_folder, d.imap_uid or None, d.message_id)
            store.add_event(session, case, "mailbox_filed", sent_folder=settings.review.sent_folder)
            session.commit()
        except Exception as e:  # the customer has the mail; filing can be repeated by hand
            event(log, "mailbox_filing_failed", logging.WARNING, case=case.ref, error=str(e))
    return d


def reject(session: Session, draft_id: int, actor: str, reason: str, imap: ImapFactory = lambda: None) -> Draft:
    if not reason.strip():
        raise ReviewError("say why the draft is rejected")
    d = _get(session, draft_id)
    if d.status != "pending":
        raise ReviewError(f"draft {draft_id} is {d.status}")
    d.status, d.rejected_reason = "rejected", reason
    store.add_event(session, d.case, "draft_rejected", actor=actor, draft=d.id, reason=reason)
    session.commit()
    client = imap()
    if client is not None and d.imap_folder:
        try:
            remove_draft(client, d.imap_folder, d.imap_uid or None, d.message_id)
        except Exception as e:
            event(log, "draft_removal_failed", logging.WARNING, case=d.case.ref, error=str(e))
    return d
