"""Cases and drafts end to end: Drafts folder, approval, SMTP delivery, Sent copy, guard, workflow.

Real Dovecot, real aiosmtpd, real SQLite. Nothing here mocks the mail servers.
"""
from __future__ import annotations

import ast
import email
import email.policy
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from imapclient import IMAPClient
from sqlalchemy import func, select

from conftest import ROOT
from dovecot import free_port
from mail import COMPLAINT_EN, make_mail
from triage import review, sla
from triage.config import settings_from_dict
from triage.db import Case, Draft, Event, Message, make_sessionmaker, utcnow
from triage.pipeline import Pipeline
from triage.smtp_send import Approval, NotApproved, deliver
from triage.worker import Worker
from triage.workflow import TransitionRefused, set_status

KETTLE_ZH_HANT = """陳經理您好：

訂單 TY-0915 的電熱水壺（KT-17）到貨後，我們門市有三台通電後開關失靈，按了沒反應，
另外有兩台底座發燙。請儘快確認原因並回覆處理方式。

林小姐
"""


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = Inbox()

    def auth(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"sales@example.test" and auth_data.password == b"smtp-pw"
        return AuthResult(success=ok)

    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=auth, auth_require_tls=False)
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def env(dovecot, imap_user, smtp_server, tmp_path, monkeypatch, model):
    user, password = imap_user
    controller, inbox = smtp_server
    monkeypatch.setenv("T_IMAP_PW", password)
    monkeypatch.setenv("T_SMTP_PW", "smtp-pw")
    settings = settings_from_dict({
        "database_url": f"sqlite:///{tmp_path / 't.db'}",
        "company": {"name": "Hengda", "own_addresses": ["sales@example.test"], "own_domains": ["example.test"]},
        "smtp": {"host": "127.0.0.1", "port": controller.port, "security": "plain", "username": "sales@example.test",
                 "password_env": "T_SMTP_PW", "from_address": "Hengda Sales <sales@example.test>"},
        "review": {"mailbox": "inbox", "drafts_folder": "Drafts", "sent_folder": "Sent"},
        "routing": {"damage": "logistics"},
        "sources": [{"name": "inbox", "kind": "imap", "host": "127.0.0.1", "port": dovecot.port, "security": "plain",
                     "username": user, "password_env": "T_IMAP_PW", "folders": ["INBOX"]}],
    })
    sessions = make_sessionmaker(settings.database_url)
    worker = Worker(settings, Pipeline(settings, sessions, model))
    client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False)
    client.login(user, password)
    yield settings, sessions, worker, client, inbox
    client.logout()
    for s in worker.sources:
        s.close()


def _imap_factory(worker):
    return lambda: worker.sources[0].connect()


def test_complaint_draft_lands_in_drafts_folder_threaded(env):
    settings, sessions, worker, client, _ = env
    client.append("INBOX", make_mail(COMPLAINT_EN, subject="Broken vases PO 77120", msgid="<r1@customer.test>"))
    worker.poll_once()
    client.select_folder("Drafts")
    uids = client.search(["ALL"])
    assert len(uids) == 1
    data = client.fetch(uids, ["FLAGS", "BODY.PEEK[]"])[uids[0]]
    assert b"\\Draft" in data[b"FLAGS"]
    draft_mail = email.message_from_bytes(data[b"BODY[]"], policy=email.policy.default)
    assert draft_mail["In-Reply-To"] == "<r1@customer.test>"
    assert "<r1@customer.test>" in draft_mail["References"]
    with sessions() as s:
        case = s.scalar(select(Case))
        assert case.ref in draft_mail["Subject"] and case.department == "logistics"
        assert s.scalar(select(Draft)).imap_uid == uids[0]
    worker.poll_once()  # published once, not again
    client.select_folder("Drafts")
    assert len(client.search(["ALL"])) == 1


def test_approval_sends_exactly_one_reply_files_it_and_acknowledges(env):
    settings, sessions, worker, client, inbox = env
    client.append("INBOX", make_mail(KETTLE_ZH_HANT, subject="電熱水壺開關失靈 TY-0915", sender="林小姐 <lin@shop.test>",
                                     msgid="<k1@shop.test>"))
    worker.poll_once()
    with sessions() as s:
        (d,) = review.pending(s)
        assert d.language == "zh-Hant"
        review.approve(s, settings, d.id, "Amy Chen", imap=_imap_factory(worker))
        case = s.scalar(select(Case))
        assert case.status == "acknowledged"
        kinds = [e.kind for e in case.events]
        assert kinds.index("draft_approved") < kinds.index("reply_sent")
        assert s.scalar(select(func.count(Message.id)).where(Message.direction == "out")) == 1
    assert len(inbox.messages) == 1
    mail_from, rcpts, raw = inbox.messages[0]
    sent = email.message_from_bytes(raw, policy=email.policy.default)
    assert rcpts == ["lin@shop.test"] and mail_from == "sales@example.test"
    assert sent["In-Reply-To"] == "<k1@shop.test>" and "[C-" in sent["Subject"]
    assert sent["Auto-Submitted"] == "no"
    body = sent.get_content()
    assert "感謝您的來信" in body and "TY-0915" in body  # Traditional, as the customer wrote
    client.select_folder("Sent")
    assert len(client.search(["ALL"])) == 1
    client.select_folder("Drafts")
    assert client.search(["ALL"]) == []
    # Approving again sends nothing more.
    with sessions() as s, pytest.raises(review.ReviewError):
        review.approve(s, settings, d.id, "Amy Chen")
    assert len(inbox.messages) == 1


@pytest.mark.parametrize("edited", [
    "Dear Anna, this was our mistake and we will compensate you for the broken vases.",
    "王女士您好，这次是我们的失误，损失由我方承担。",
    "林小姐您好，這是我們的疏失，我們會全額退款。",
])
def test_guard_blocks_an_edited_draft_that_admits_fault(env, edited):
    settings, sessions, worker, client, inbox = env
    client.append("INBOX", make_mail(COMPLAINT_EN, msgid="<g1@customer.test>"))
    worker.poll_once()
    with sessions() as s:
        (d,) = review.pending(s)
        found = review.edit(s, d.id, edited, "Bob")
        assert found
        with pytest.raises(review.GuardBlocked) as e:
            review.approve(s, settings, d.id, "Bob")
        assert any(v.phrase in edited for v in e.value.violations)
        assert s.get(Draft, d.id).status == "pending"
        assert s.scalar(select(func.count(Event.id)).where(Event.kind == "approval_blocked")) == 1
    assert inbox.messages == []


def test_rejecting_removes_the_draft_from_the_mailbox(env):
    settings, sessions, worker, client, inbox = env
    client.append("INBOX", make_mail(COMPLAINT_EN, msgid="<j1@customer.test>"))
    worker.poll_once()
    with sessions() as s:
        (d,) = review.pending(s)
        review.reject(s, d.id, "Bob", "wrong tone for this key account", imap=_imap_factory(worker))
        assert s.get(Draft, d.id).rejected_reason == "wrong tone for this key account"
    client.select_folder("Drafts")
    assert client.search(["ALL"]) == []
    assert inbox.messages == []


def test_customer_reply_reopens_a_resolved_case(env):
    settings, sessions, worker, client, _ = env
    client.append("INBOX", make_mail(COMPLAINT_EN, subject="Vases", msgid="<o1@customer.test>"))
    worker.poll_once()
    with sessions() as s:
        case = s.scalar(select(Case))
        set_status(s, case, "acknowledged", "Bob")
        set_status(s, case, "resolved", "Bob", "credit agreed")
        s.commit()
    client.append("INBOX", make_mail("The credit note never came.", subject="Re: Vases", msgid="<o2@customer.test>",
                                     headers={"In-Reply-To": "<o1@customer.test>"}))
    worker.poll_once()
    with sessions() as s:
        case = s.scalar(select(Case))
        assert case.status == "investigating"
        assert "reopened" in [e.kind for e in case.events]


def test_repeated_complaint_about_the_same_order_escalates(env):
    settings, sessions, worker, client, _ = env
    client.append("INBOX", make_mail("PO 66120: 12 of the 400 lamps flicker. Please replace them.", subject="Lamps PO 66120",
                                     msgid="<p1@customer.test>"))
    worker.poll_once()
    with sessions() as s:
        before = s.scalar(select(Case)).severity
        assert before in ("low", "medium")
    # A new mail, not a reply, about the same order from the same customer.
    client.append("INBOX", make_mail("PO 66120: the same flicker defect again, now 30 more lamps are faulty. "
                                     "Please replace all of them.", subject="PO 66120 lamps", msgid="<p2@customer.test>"))
    worker.poll_once()
    with sessions() as s:
        assert s.scalar(select(func.count(Case.id))) == 1
        case = s.scalar(select(Case))
        assert case.severity in ("high", "critical")
        raised = [e for e in case.events if e.kind == "severity_raised"]
        assert raised and "same order" in " ".join(raised[0].detail["why"])


def test_new_mail_about_the_same_order_joins_the_open_case(env):
    settings, sessions, worker, client, _ = env
    client.append("INBOX", make_mail("PO 66120: 12 of the 400 lamps flicker. Please replace them.", subject="Lamps PO 66120",
                                     msgid="<q1@customer.test>"))
    worker.poll_once()
    client.append("INBOX", make_mail("Photos for PO 66120 attached, as you asked.", subject="photos", msgid="<q2@customer.test>",
                                     photos=2))
    worker.poll_once()
    with sessions() as s:
        assert s.scalar(select(func.count(Case.id))) == 1
        assert len(s.scalar(select(Case)).messages) == 2


def test_reply_sent_from_a_mail_client_is_recorded_on_the_case(env):
    settings, sessions, worker, client, _ = env
    client.append("INBOX", make_mail(COMPLAINT_EN, subject="Vases", msgid="<c1@customer.test>"))
    worker.poll_once()
    client.append("INBOX", make_mail("Dear Anna, thank you, we are checking with the warehouse.", subject="Re: Vases",
                                     sender="Sunny <sales@example.test>", msgid="<c2@example.test>",
                                     headers={"In-Reply-To": "<c1@customer.test>"}))
    worker.poll_once()
    with sessions() as s:
        case = s.scalar(select(Case))
        assert case.status == "acknowledged" and case.last_outbound_at is not None
        assert [m.direction for m in case.messages] == ["in", "out"]


def test_silent_customer_on_a_high_case_is_flagged(env):
    settings, sessions, worker, client, _ = env
    client.append("INBOX", make_mail(COMPLAINT_EN + "\nOur production line has stopped.", msgid="<s1@customer.test>"))
    worker.poll_once()
    with sessions() as s:
        case = s.scalar(select(Case))
        assert case.severity in ("high", "critical")
        case.last_outbound_at = utcnow() - timedelta(days=settings.sla.silent_days + 1)
        case.last_inbound_at = case.last_outbound_at - timedelta(days=1)  # they wrote, we answered, then silence
        s.commit()
        flagged = sla.flag_silent(s, settings)
        assert [c.ref for c in flagged] == [case.ref]
        assert sla.flag_silent(s, settings) == []  # once


def test_deliver_refuses_without_an_approval(env):
    settings, *_ = env
    from email.message import EmailMessage

    with pytest.raises(NotApproved):
        deliver(settings.smtp, EmailMessage(), None)  # type: ignore[arg-type]
    with pytest.raises(NotApproved):
        deliver(settings.smtp, EmailMessage(), Approval(1, "  ", utcnow()))


def test_no_code_path_sends_without_approval():
    """Read the source: only smtp_send imports smtplib, and only review.approve calls deliver."""
    pkg = ROOT / "triage"
    importers, callers = [], []
    for path in pkg.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                if any(n and n.split(".")[0] == "smtplib" for n in names):
                    importers.append(path.name)
            if isinstance(node, ast.FunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Call):
                        f = inner.func
                        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                        if name in ("deliver", "send_message", "sendmail"):
                            callers.append((path.name, node.name, name))
    assert importers == ["smtp_send.py"]
    assert sorted(callers) == [("review.py", "approve", "deliver"), ("smtp_send.py", "deliver", "send_message")]
    # And approve records the approval before it calls deliver.
    src = (pkg / "review.py").read_text(encoding="utf-8")
    body = src[src.index("def approve("):src.index("def reject(")]
    assert body.index('"draft_approved"') < body.index("deliver(")


def test_workflow_refuses_impossible_moves(env):
    settings, sessions, worker, client, _ = env
    client.append("INBOX", make_mail(COMPLAINT_EN, msgid="<w1@customer.test>"))
    worker.poll_once()
    with sessions() as s:
        case = s.scalar(select(Case))
        with pytest.raises(TransitionRefused):
            set_status(s, case, "negotiating", "Bob")  # must be acknowledged or investigating first
        set_status(s, case, "investigating", "Bob")
        assert case.status == "investigating"


@pytest.fixture
def smtp_starttls(dovecot):
    """aiosmtpd requiring STARTTLS, with the test CA's server certificate (as a company relay would)."""
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(dovecot.root / "tls" / "server.pem", dovecot.root / "tls" / "server.key")
    inbox = Inbox()

    def auth(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=isinstance(auth_data, LoginPassword) and auth_data.password == b"smtp-pw")

    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=ctx, require_starttls=True,
                            authenticator=auth)
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.mark.parametrize("with_ca", [True, False])
def test_starttls_sending_checks_the_certificate(env, dovecot, smtp_starttls, with_ca):
    from dataclasses import replace

    settings, sessions, worker, client, _ = env
    controller, inbox = smtp_starttls
    smtp = replace(settings.smtp, port=controller.port, security="starttls", ca_file=str(dovecot.ca_file) if with_ca else "")
    settings = replace(settings, smtp=smtp)
    client.append("INBOX", make_mail(COMPLAINT_EN, msgid="<tls1@customer.test>"))
    worker.poll_once()
    with sessions() as s:
        (d,) = review.pending(s)
        if with_ca:
            review.approve(s, settings, d.id, "Amy")
            assert len(inbox.messages) == 1 and s.get(Draft, d.id).status == "sent"
        else:
            import ssl

            with pytest.raises(ssl.SSLCertVerificationError):
                review.approve(s, settings, d.id, "Amy")
            assert inbox.messages == []
            assert s.get(Draft, d.id).status == "approved"  # approved, not sent; approving again retries
            assert "send_failed" in [e.kind for e in s.get(Draft, d.id).case.events]


def _edit_in_mail_client(client: IMAPClient, new_body: str) -> None:
    """What Thunderbird or Outlook do when a draft is changed and saved: a new message with the same
    subject and threading headers is appended to Drafts and the old one is deleted."""
    client.select_folder("Drafts")
    (uid,) = client.search(["ALL"])
    old = email.message_from_bytes(client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"], policy=email.policy.default)
    new = email.message.EmailMessage()
    for header in ("From", "To", "Subject", "In-Reply-To", "References"):
        if old[header]:
            new[header] = old[header]
    new["Message-ID"] = "<edited-in-client@example.test>"
    new.set_content(new_body)
    client.append("Drafts", new.as_bytes(), flags=[b"\\Draft"])
    client.delete_messages([uid])
    client.expunge()


def test_a_draft_edited_in_the_mail_client_is_what_gets_sent(env):
    settings, sessions, worker, client, inbox = env
    client.append("INBOX", make_mail(COMPLAINT_EN, subject="Broken vases PO 77120", msgid="<e1@customer.test>"))
    worker.poll_once()
    edited = ("Dear Anna,\n\nThank you for letting us know about the vases on PO 77120. Our QC manager Mr Zhou "
              "will call you tomorrow at 10:00 your time. Could you send photos of the cartons as they arrived?\n\nAmy")
    _edit_in_mail_client(client, edited)
    worker.poll_once()  # the worker reads the edit back
    with sessions() as s:
        (d,) = review.pending(s)
        assert "Mr Zhou will call you" in d.body.replace("\n", " ")
        edits = [e for e in d.case.events if e.kind == "draft_edited"]
        assert edits and edits[-1].actor == review.MAIL_CLIENT
        review.approve(s, settings, d.id, "Amy Chen", imap=_imap_factory(worker))
    (_, _, raw) = inbox.messages[0]
    sent = email.message_from_bytes(raw, policy=email.policy.default)
    assert "Mr Zhou" in sent.get_content() and sent["In-Reply-To"] == "<e1@customer.test>"
    client.select_folder("Drafts")
    assert client.search(["ALL"]) == []  # the edited copy is gone too


def test_an_edit_in_the_mail_client_that_admits_fault_is_blocked_at_approval(env):
    settings, sessions, worker, client, inbox = env
    client.append("INBOX", make_mail(COMPLAINT_EN, subject="Broken vases PO 77120", msgid="<e2@customer.test>"))
    worker.poll_once()
    _edit_in_mail_client(client, "Dear Anna, this was our fault and we will refund you in full.")
    with sessions() as s:
        (d,) = review.pending(s)
        # Approved straight after the edit, before any poll: approval reads the mailbox first.
        with pytest.raises(review.GuardBlocked):
            review.approve(s, settings, d.id, "Amy Chen", imap=_imap_factory(worker))
    assert inbox.messages == []
