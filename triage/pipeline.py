"""What happens to one message, in order. Read this file to know the whole path of a mail.

1. record   the raw bytes are written to the database (own transaction): from here nothing is lost
2. parse    bytes -> ParsedMessage; failure quarantines the message with its reason
3. skip     auto-replies, bounces, bulk mail and our own mail go no further
4. thread   a reply to a known case joins that case
5. understand  language, complaint, category, severity, facts
6. case     a complaint opens a case with its draft for a person to review
Steps 2-6 commit together, with the source's checkpoint, so a crash repeats or loses nothing.
"""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from triage import store
from triage.config import Settings
from triage.attachments import save_attachments
from triage.automail import auto_reason
from triage.db import Attachment as DbAttachment
from triage.db import Case, Draft, Message, utcnow
from triage.draft import make_draft
from triage.log import event
from triage.nlp.classifier import Classifier
from triage.parse import ParseError, ParsedMessage, parse_message
from triage.sources import Source
from triage.understand import Understanding, understand, with_details
from triage.workflow import raise_severity, set_status

log = logging.getLogger("triage.pipeline")
SEVERITY_ORDER = ("low", "medium", "high", "critical")


@dataclass
class Outcome:
    key: str
    status: str  # processed | skipped | failed | duplicate
    message_id: str = ""
    subject: str = ""
    language: str = ""
    is_complaint: bool | None = None
    category: str | None = None
    severity: str | None = None
    case_ref: str | None = None
    note: str = ""


class Pipeline:
    def __init__(self, settings: Settings, sessions: sessionmaker, model: Classifier) -> None:
        self.settings = settings
        self.sessions = sessions
        self.model = model
        own = settings.company
        self._own = {a.lower() for a in own.own_addresses}
        self._own_domains = {d.lower() for d in own.own_domains}

    # ---- one pass over a source -------------------------------------------------------------
    RECORD_BATCH = 100  # messages recorded per commit while fetching

    def run_source(self, source: Source, stop=lambda: False) -> list[Outcome]:
        """Fetch and record everything new first (cheap, durable), then process what is recorded.

        Recording moves the source's checkpoint in the same commit, so from then on the database
        alone drives processing: a crash at any point repeats nothing and loses nothing, and a slow
        classifier never holds the mailbox connection open mid-fetch.
        """
        outcomes: list[Outcome] = []
        with self.sessions() as session:
            store.ensure_mailbox(session, source.name, getattr(source, "kind", "maildir"))
            outcomes += self._record_new(session, source, stop)
            pending = store.pending_messages(session, source.name)
            for n, msg in enumerate(pending, 1):
                if stop():
                    break
                outcomes.append(self._process_recorded(session, msg))
                if len(pending) > self.RECORD_BATCH and (n % self.RECORD_BATCH == 0 or n == len(pending)):
                    event(log, "processing_progress", source=source.name, done=n, total=len(pending))
        return outcomes

    def _record_new(self, session: Session, source: Source, stop) -> list[Outcome]:
        skipped: list[Outcome] = []
        since_commit = 0
        for item in source.fetch_new(session):
            msg = store.record_received(session, source.name, item.key, item.raw)
            if msg is None:
                skipped.append(Outcome(item.key, "duplicate", note="already recorded"))
                event(log, "skipped", source=source.name, key=item.key, reason="already recorded")
            else:
                if item.oversize:
                    self._quarantine(msg, f"message is {item.oversize} bytes, over the {self.settings.max_message_bytes} byte limit")
                    skipped.append(Outcome(item.key, "failed", note=msg.reason or ""))
                event(log, "received", source=source.name, key=item.key, bytes=len(item.raw))
            source.mark_done(item, session)
            since_commit += 1
            if since_commit >= self.RECORD_BATCH:
                self._commit_records(session, source)
                since_commit = 0
            if stop():
                break
        self._commit_records(session, source)
        return skipped

    @staticmethod
    def _commit_records(session: Session, source: Source) -> None:
        session.commit()
        flush = getattr(source, "flush", None)
        if flush is not None:
            flush()

    # ---- steps 2-6, one transaction ---------------------------------------------------------
    def _process_recorded(self, session: Session, msg: Message) -> Outcome:
        try:
            outcome = self._understand_and_store(session, msg)
            session.commit()
        except Exception as e:  # a bug on one message must not stop the others; keep it for retry
            session.rollback()
            msg = session.get(Message, msg.id)
            msg.status = "failed"
            msg.reason = f"internal error: {type(e).__name__}: {e}"
            session.commit()
            event(log, "failed", logging.ERROR, exc_info=True, key=msg.source_key, reason=msg.reason)
            return Outcome(msg.source_key, "failed", note=msg.reason)
        return outcome

    def _understand_and_store(self, session: Session, msg: Message) -> Outcome:
        try:
            parsed = parse_message(msg.raw or b"")
        except ParseError as e:
            return self._quarantine(msg, str(e))
        msg.message_id = parsed.message_id
        msg.subject = parsed.subject[:2000]
        msg.sender = parsed.sender
        msg.sent_at = parsed.date.replace(tzinfo=None) if parsed.date and parsed.date.tzinfo is None else (
            parsed.date.astimezone().replace(tzinfo=None) if parsed.date else None)
        msg.newest = parsed.newest
        out = Outcome(msg.source_key, "processed", parsed.message_id, parsed.subject)
        self._store_attachments(session, msg, parsed)

        skip = self._auto_kind(parsed)
        if skip != parsed.auto:
            parsed = replace(parsed, auto=skip)
        if skip is None and self._is_own(parsed.sender):
            skip = self._record_own_reply(session, msg, parsed)
            if skip is None:
                out.note, out.case_ref = "our reply recorded on case", msg.case.ref
                msg.status, msg.raw = "processed", None
                return out
        if skip is not None:
            msg.status, msg.reason, msg.raw = "skipped", skip, None
            out.status, out.note = "skipped", skip
            event(log, "skipped", key=msg.source_key, message_id=parsed.message_id, reason=skip)
            return out

        u = understand(self.model, parsed, self.settings.company.key_account_domains)
        msg.language, msg.is_complaint, msg.category, msg.severity = u.language, u.is_complaint, u.category, u.severity
        out.language, out.is_complaint, out.category, out.severity = u.language, u.is_complaint, u.category, u.severity

        case = store.find_thread_case(session, parsed.subject, parsed.in_reply_to, parsed.references)
        if case is not None:
            u = with_details(u, parsed.newest)  # a reply on a case: its counts and amounts belong to the case
            self._join_case(session, case, msg, parsed, u)
            out.case_ref, out.note = case.ref, "reply joined case"
        elif (case := store.find_repeat_case(session, parsed.sender, u.extraction.order_numbers)) is not None:
            # Same customer, same order, open case: it belongs there even without reply headers
            # (photos sent in a new mail, a new complaint about the same goods).
            u = with_details(u, parsed.newest)
            self._join_case(session, case, msg, parsed, u, repeat=u.is_complaint)
            out.case_ref = case.ref
            out.note = "repeat complaint joined case" if u.is_complaint else "mail about the same order joined case"
        elif u.is_complaint:
            case = self._open_case(session, msg, parsed, u)
            out.case_ref, out.note = case.ref, "case opened"
        else:
            event(log, "not_a_complaint", key=msg.source_key, message_id=parsed.message_id, language=u.language,
                  confidence=f"{u.confidence:.2f}")
        msg.understanding = u.to_json()
        msg.status, msg.raw = "processed", None
        return out

    def _store_attachments(self, session: Session, msg: Message, parsed: ParsedMessage) -> None:
        """Files under data_dir/attachments/<db id>/, rows in the attachments table; a retry rewrites them."""
        if not parsed.attachments:
            return
        folder = self.settings.resolve(self.settings.data_dir) / "attachments" / str(msg.id)
        if folder.is_dir():
            shutil.rmtree(folder)
        for old in list(msg.attachments):
            session.delete(old)
        saved = save_attachments(parsed, folder, self.settings.max_attachments_per_message_bytes,
                                 self.settings.max_attachment_bytes)
        for a in saved:
            session.add(DbAttachment(message=msg, name=a.name[:500], content_type=a.content_type[:200], size=a.size,
                                     is_photo=a.is_photo, path=str(a.path) if a.path else None))
            if a.skipped:
                event(log, "attachment_not_stored", key=msg.source_key, name=a.name, reason=a.skipped)

    def _quarantine(self, msg: Message, reason: str) -> Outcome:
        msg.status, msg.reason = "failed", reason
        event(log, "quarantined", logging.WARNING, key=msg.source_key, reason=reason)
        return Outcome(msg.source_key, "failed", note=reason)

    def _auto_kind(self, parsed: ParsedMessage) -> str | None:
        """The parser's auto-mail verdict, except that our own group's list headers do not make bulk mail."""
        own_lists = [i.lower() for i in self.settings.company.own_list_ids]
        if parsed.auto != "bulk" or not own_lists:
            return parsed.auto
        list_id = next((v for k, v in parsed.headers.items() if k.lower() == "list-id"), "").lower()
        if not any(i in list_id for i in own_lists):
            return parsed.auto
        list_headers = {"list-id", "list-unsubscribe", "list-post", "list-help", "list-archive", "precedence",
                        "mailing-list", "list-subscribe"}
        rest = {k: v for k, v in parsed.headers.items() if k.lower() not in list_headers}
        found = auto_reason(rest, parsed.sender, parsed.subject, rest.get("Content-Type", ""))
        return found[0] if found else None

    def _is_own(self, sender: str) -> bool:
        return sender in self._own or (sender.rsplit("@", 1)[-1] in self._own_domains if "@" in sender else False)

    # ---- cases -----------------------------------------------------------------------------
    def _open_case(self, session: Session, msg: Message, parsed: ParsedMessage, u: Understanding) -> Case:
        now = utcnow()
        domain = parsed.sender.rsplit("@", 1)[-1] if "@" in parsed.sender else ""
        key_account = domain in {d.lower() for d in self.settings.company.key_account_domains}
        hours = self.settings.sla.hours(u.severity, key_account)
        ex = u.extraction
        quantities = sorted(ex.quantities, key=lambda q: q.value)
        case = store.open_case(
            session,
            year=now.year,
            due_in_hours=hours,
            status="new",
            category=u.category,
            secondary=list(u.secondary),
            severity=u.severity,
            language=u.language,
            customer=parsed.sender,
            customer_name=parsed.sender_name,
            customer_domain=domain,
            key_account=key_account,
            subject=parsed.subject,
            order_numbers=list(ex.order_numbers),
            other_refs=list(ex.bl_numbers + ex.awb_numbers + ex.containers + ex.tracking_numbers),
            product=", ".join(ex.products[:3]),
            quantity_affected=f"{quantities[0].value:g} {quantities[0].unit}" if quantities else "",
            quantity_ordered=f"{quantities[-1].value:g} {quantities[-1].unit}" if len(quantities) > 1 else "",
            amounts=[{"value": a.value, "currency": a.currency} for a in ex.amounts],
            remedy=list(ex.remedy),
            department=self.settings.routing.owner(u.category),
            facts=u.to_json(),
            reasons=list(u.reasons),
            confidence=u.confidence,
            last_inbound_at=now,
        )
        msg.case = case
        d = make_draft(
            u,
            case_ref=case.ref,
            subject=parsed.subject,
            customer_name=parsed.sender_name,
            newest=parsed.newest,
            message_id=parsed.message_id,
            references=parsed.references,
            reply_by=(now + timedelta(hours=hours)),
            company=self.settings.company.name,
            signature_en=self.settings.company.signature_en,
            signature_zh=self.settings.company.signature_zh,
        )
        session.add(Draft(case=case, language=d.language, subject=d.subject, body=d.body, in_reply_to=d.in_reply_to,
                          references=list(d.references), guard=[str(v) for v in d.violations], to_address=parsed.sender))
        store.add_event(session, case, "draft_ready", language=d.language, guard=[str(v) for v in d.violations])
        event(log, "case_opened", key=msg.source_key, message_id=parsed.message_id, case=case.ref, category=u.category,
              severity=u.severity, language=u.language)
        event(log, "draft_ready", case=case.ref, language=d.language, guard_ok=not d.violations)
        return case

    def _join_case(self, session: Session, case: Case, msg: Message, parsed: ParsedMessage, u: Understanding,
                   repeat: bool = False) -> None:
        msg.case = case
        case.last_inbound_at = utcnow()
        store.add_event(session, case, "customer_replied" if not repeat else "repeat_complaint", message_id=parsed.message_id)
        if case.status in ("resolved", "closed"):
            set_status(session, case, "investigating", "triage", "customer wrote again")
        if case.silent_flagged_at is not None:
            case.silent_flagged_at = None
        why = [s.reason for s in u.signals]
        target = u.severity if u.is_complaint else case.severity
        if repeat:
            target = max(target, "high", key=SEVERITY_ORDER.index)
            why = ["second complaint from this customer about the same order"] + why
        if target in SEVERITY_ORDER:
            raise_severity(session, case, target, why or ["follow-up reads more severe"],
                           self.settings.sla.hours(target, case.key_account))
        event(log, "reply_joined_case", key=msg.source_key, message_id=parsed.message_id, case=case.ref, repeat=repeat)

    def _record_own_reply(self, session: Session, msg: Message, parsed: ParsedMessage) -> str | None:
        """Our own mail: a reply on a case (sent from a mail client) is recorded on it; the rest is skipped."""
        if parsed.message_id and store.sent_by_triage(session, parsed.message_id):
            return "own mail (sent by triage, already on its case)"
        case = store.find_thread_case(session, parsed.subject, parsed.in_reply_to, parsed.references)
        if case is None:
            return "own mail"
        msg.case, msg.direction = case, "out"
        case.last_outbound_at = utcnow()
        store.add_event(session, case, "staff_replied", actor=parsed.sender, message_id=parsed.message_id, via="mail client")
        if case.status == "new":
            set_status(session, case, "acknowledged", parsed.sender, "replied from a mail client")
        event(log, "staff_reply_recorded", key=msg.source_key, case=case.ref)
        return None


def outcome_rows(outcomes: list[Outcome]) -> list[list[str]]:
    rows = []
    for o in outcomes:
        rows.append([
            (o.subject or o.key)[:48],
            o.language or "-",
            {True: "yes", False: "no", None: "-"}[o.is_complaint],
            o.category or "-",
            o.severity or "-",
            o.case_ref or "-",
            o.note or o.status,
        ])
    return rows


