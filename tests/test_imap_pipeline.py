"""The whole pipeline against a real Dovecot: mail appended over IMAP comes out as cases and drafts."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select

from mail import COMPLAINT_EN, COMPLAINT_ZH, NOT_COMPLAINT_EN, make_mail
from triage.config import SourceConfig, settings_from_dict
from triage.db import Case, Checkpoint, Draft, Mailbox, Message, make_sessionmaker
from triage.pipeline import Pipeline
from triage.sources.imap import ImapSource


@pytest.fixture
def imap(dovecot, imap_user, monkeypatch):
    user, password = imap_user
    monkeypatch.setenv("TEST_IMAP_PASSWORD", password)
    client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False)
    client.login(user, password)
    yield user, client
    client.logout()


def _pipeline(dovecot, user, db_url, model):
    settings = settings_from_dict({
        "database_url": db_url,
        "company": {"own_addresses": ["sales@example.test"]},
        "sources": [{"name": "inbox", "kind": "imap", "host": "127.0.0.1", "port": dovecot.port, "security": "plain",
                     "username": user, "password_env": "TEST_IMAP_PASSWORD", "folders": ["INBOX"]}],
    })
    sessions = make_sessionmaker(db_url)
    source = ImapSource(settings.sources[0])
    return Pipeline(settings, sessions, model), source, sessions


def test_appended_complaint_becomes_case_with_draft(imap, dovecot, db_url, model):
    user, client = imap
    client.append("INBOX", make_mail(COMPLAINT_EN, subject="Broken vases PO 77120", msgid="<v1@customer.test>"))
    pipeline, source, sessions = _pipeline(dovecot, user, db_url, model)
    outcomes = pipeline.run_source(source)
    source.close()
    assert [o.status for o in outcomes] == ["processed"]
    with sessions() as s:
        case = s.scalar(select(Case))
        assert case is not None and case.ref.startswith("C-")
        assert case.category == "damage"
        assert "PO 77120" in case.order_numbers or "77120" in " ".join(case.order_numbers)
        draft = s.scalar(select(Draft).where(Draft.case_id == case.id))
        assert case.ref in draft.subject and draft.subject.startswith("Re: Broken vases")
        assert draft.in_reply_to == "<v1@customer.test>"
        assert draft.guard == []
        cp = s.scalar(select(Checkpoint))
        assert cp.last_uid == 1 and cp.uidvalidity > 0
        assert [(m.name, m.kind) for m in s.scalars(select(Mailbox))] == [("inbox", "imap")]
    # Reading never marked the mail as seen for the people sharing the inbox; the keyword says it is done.
    client.select_folder("INBOX")
    flags = client.get_flags([1])[1]
    assert b"\\Seen" not in flags and b"$Triaged" in flags


def test_second_pass_opens_no_second_case(imap, dovecot, db_url, model):
    user, client = imap
    client.append("INBOX", make_mail(COMPLAINT_ZH, subject="锅盖把手松动", msgid="<z1@customer.test>"))
    pipeline, source, sessions = _pipeline(dovecot, user, db_url, model)
    pipeline.run_source(source)
    again = pipeline.run_source(source)
    source.close()
    assert again == []
    with sessions() as s:
        assert s.scalar(select(func.count(Case.id))) == 1
        assert s.scalar(select(func.count(Message.id))) == 1


def test_checkpoint_lost_still_no_duplicates(imap, dovecot, db_url, model):
    """Even if the checkpoint is wiped (a UIDVALIDITY reset looks the same), content hashes stop repeats."""
    user, client = imap
    client.append("INBOX", make_mail(COMPLAINT_EN, msgid="<v2@customer.test>"))
    pipeline, source, sessions = _pipeline(dovecot, user, db_url, model)
    pipeline.run_source(source)
    with sessions() as s:
        s.query(Checkpoint).delete()
        s.commit()
    outcomes = pipeline.run_source(source)
    source.close()
    assert [o.status for o in outcomes] == ["duplicate"]
    with sessions() as s:
        assert s.scalar(select(func.count(Case.id))) == 1


def test_reply_threads_onto_its_case(imap, dovecot, db_url, model):
    user, client = imap
    client.append("INBOX", make_mail(COMPLAINT_EN, subject="Broken vases", msgid="<t1@customer.test>"))
    pipeline, source, sessions = _pipeline(dovecot, user, db_url, model)
    pipeline.run_source(source)
    client.append("INBOX", make_mail("Here are the photos you asked for, 12 pictures of the 40 cartons.\n\nAnna",
                                     subject="Re: Broken vases",
                                     msgid="<t2@customer.test>", headers={"In-Reply-To": "<t1@customer.test>",
                                                                          "References": "<t1@customer.test>"}))
    with sessions() as s:
        ref = s.scalar(select(Case.ref))
    # A reply that only carries the case reference in its subject joins too (threading lost by the client).
    client.append("INBOX", make_mail("Any news on this?", subject=f"Re: vases [{ref}]", msgid="<t3@customer.test>"))
    outcomes = pipeline.run_source(source)
    source.close()
    assert [o.case_ref for o in outcomes] == [ref, ref]
    with sessions() as s:
        assert s.scalar(select(func.count(Case.id))) == 1
        case = s.scalar(select(Case))
        assert [m.message_id for m in case.messages] == ["<t1@customer.test>", "<t2@customer.test>", "<t3@customer.test>"]
        # Not a complaint itself, but it joined the case: its counts are read like a complaint's.
        photos = case.messages[1].understanding
        assert photos["is_complaint"] is False
        assert {"value": 40.0, "unit": "cartons"} in photos["quantities"]


def test_follow_up_with_critical_signal_raises_severity(imap, dovecot, db_url, model):
    user, client = imap
    client.append("INBOX", make_mail(COMPLAINT_EN, subject="Broken vases", msgid="<e1@customer.test>"))
    pipeline, source, sessions = _pipeline(dovecot, user, db_url, model)
    pipeline.run_source(source)
    client.append("INBOX", make_mail(
        "A shard cut my colleague's hand while unpacking, she needed stitches. Our lawyer will contact you.",
        subject="Re: Broken vases", msgid="<e2@customer.test>", headers={"In-Reply-To": "<e1@customer.test>"}))
    pipeline.run_source(source)
    source.close()
    with sessions() as s:
        case = s.scalar(select(Case))
        assert case.severity == "critical"
        assert any(e.kind == "severity_raised" for e in case.events)


def test_auto_reply_bounce_and_own_mail_open_no_case(imap, dovecot, db_url, model):
    user, client = imap
    client.append("INBOX", make_mail("I am out of the office until Monday. Damaged goods claims: call 123.",
                                     subject="Out of Office: Broken vases", msgid="<a1@customer.test>",
                                     headers={"Auto-Submitted": "auto-replied"}))
    client.append("INBOX", make_mail(COMPLAINT_EN, subject="Fwd: complaint", sender="Sales <sales@example.test>",
                                     msgid="<a2@example.test>"))
    client.append("INBOX", make_mail("Delivery failed", subject="Undelivered Mail Returned to Sender",
                                     sender="MAILER-DAEMON@mx.example.test", msgid="<a3@mx.example.test>"))
    pipeline, source, sessions = _pipeline(dovecot, user, db_url, model)
    outcomes = pipeline.run_source(source)
    source.close()
    assert [o.status for o in outcomes] == ["skipped", "skipped", "skipped"]
    assert [o.note for o in outcomes] == ["auto-reply", "own mail", "bounce"]
    with sessions() as s:
        assert s.scalar(select(func.count(Case.id))) == 0


def test_random_bytes_are_quarantined_and_the_run_goes_on(imap, dovecot, db_url, model):
    user, client = imap
    junk = os.urandom(3000).replace(b"\r", b"").replace(b"\n", b"")  # no header/body split at all
    client.append("INBOX", b"X" + junk)
    client.append("INBOX", make_mail(NOT_COMPLAINT_EN, subject="Price list please", msgid="<n1@customer.test>"))
    client.append("INBOX", make_mail(COMPLAINT_ZH, subject="把手松动", msgid="<n2@customer.test>"))
    pipeline, source, sessions = _pipeline(dovecot, user, db_url, model)
    outcomes = pipeline.run_source(source)
    source.close()
    assert [o.status for o in outcomes] == ["failed", "processed", "processed"]
    with sessions() as s:
        failed = s.scalar(select(Message).where(Message.status == "failed"))
        assert failed.reason and failed.raw  # kept, with the reason, for `triage quarantine`
        assert s.scalar(select(func.count(Case.id))) == 1
        assert s.scalar(select(Checkpoint)).last_uid == 3


def test_wrong_password_is_a_clear_error_without_the_secret(dovecot, imap_user, db_url, model, monkeypatch, caplog):
    user, _ = imap_user
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "not-the-password-xyz")
    pipeline, source, sessions = _pipeline(dovecot, user, db_url, model)
    from imapclient.exceptions import LoginError

    with pytest.raises(LoginError):
        pipeline.run_source(source)
    assert "not-the-password-xyz" not in caplog.text


def test_maildir_and_imap_sources_agree(imap, dovecot, db_url, model, tmp_path):
    """The same messages through either source give the same understanding: the pipeline cannot tell them apart."""
    import mailbox

    from triage.sources.maildir import MaildirSource

    user, client = imap
    mails = [make_mail(COMPLAINT_EN, msgid="<s1@c.test>"), make_mail(COMPLAINT_ZH, msgid="<s2@c.test>"),
             make_mail(NOT_COMPLAINT_EN, msgid="<s3@c.test>")]
    md = mailbox.Maildir(tmp_path / "md", create=True)
    for m in mails:
        client.append("INBOX", m)
        md.add(m)
    pipeline, source, _ = _pipeline(dovecot, user, db_url, model)
    via_imap = pipeline.run_source(source)
    source.close()
    other_db = f"sqlite:///{tmp_path / 'other.db'}"
    p2 = Pipeline(pipeline.settings, make_sessionmaker(other_db), model)
    via_maildir = p2.run_source(MaildirSource("md", tmp_path / "md"))
    key = lambda o: o.message_id  # noqa: E731
    assert [(o.message_id, o.is_complaint, o.category, o.severity) for o in sorted(via_imap, key=key)] == \
           [(o.message_id, o.is_complaint, o.category, o.severity) for o in sorted(via_maildir, key=key)]


def test_source_config_repr_hides_password_env_value(monkeypatch):
    monkeypatch.setenv("X_PW", "hunter2")
    cfg = SourceConfig(name="a", kind="imap", host="127.0.0.1", password_env="X_PW")
    assert "hunter2" not in repr(cfg) and cfg.password() == "hunter2"


def test_attachments_are_stored_safely_and_listed(tmp_path, model):
    import mailbox

    from triage.sources.maildir import MaildirSource

    md = mailbox.Maildir(tmp_path / "md", create=True)
    md.add(make_mail(COMPLAINT_EN, msgid="<ph1@customer.test>", photos=2))
    settings = settings_from_dict({"database_url": f"sqlite:///{tmp_path / 'a.db'}", "data_dir": str(tmp_path / "data")})
    sessions = make_sessionmaker(settings.database_url)
    Pipeline(settings, sessions, model).run_source(MaildirSource("md", tmp_path / "md"))
    with sessions() as s:
        msg = s.scalar(select(Message))
        assert [a.name for a in msg.attachments] == ["photo0.jpg", "photo1.jpg"]
        for a in msg.attachments:
            path = Path(a.path)
            assert path.is_file() and path.parent.parent == tmp_path / "data" / "attachments"
            assert a.is_photo and path.stat().st_size == a.size
        # The draft does not ask for photos the customer already sent.
        assert "photos of the goods" not in s.scalar(select(Draft)).body


def test_same_message_id_with_changed_headers_is_not_recorded_twice(tmp_path, model):
    """After a resync a server may hand back a message with an extra header: still the same message."""
    import mailbox

    from triage.sources.maildir import MaildirSource

    md = mailbox.Maildir(tmp_path / "md", create=True)
    raw = make_mail(COMPLAINT_EN, msgid="<dup1@customer.test>")
    md.add(raw)
    md.add(b"X-Resync: 1\r\n" + raw)
    settings = settings_from_dict({"database_url": f"sqlite:///{tmp_path / 'd.db'}", "data_dir": str(tmp_path / "data")})
    sessions = make_sessionmaker(settings.database_url)
    outcomes = Pipeline(settings, sessions, model).run_source(MaildirSource("md", tmp_path / "md"))
    assert sorted(o.status for o in outcomes) == ["duplicate", "processed"]
    with sessions() as s:
        assert s.scalar(select(func.count(Case.id))) == 1


def test_mail_through_our_own_group_is_not_bulk(tmp_path, model):
    """A shared inbox that is a Google Group stamps List-Id on customer mail: that must not hide complaints."""
    import mailbox

    from triage.sources.maildir import MaildirSource

    md = mailbox.Maildir(tmp_path / "md", create=True)
    md.add(make_mail(COMPLAINT_EN, msgid="<g1@customer.test>",
                     headers={"List-Id": "<sales.hengda.test>", "Precedence": "list"}))
    md.add(make_mail("Our newsletter", msgid="<n1@news.test>", headers={"List-Id": "<news.other.test>"}))
    settings = settings_from_dict({"database_url": f"sqlite:///{tmp_path / 'g.db'}", "data_dir": str(tmp_path / "data"),
                                   "company": {"own_list_ids": ["sales.hengda.test"]}})
    outcomes = Pipeline(settings, make_sessionmaker(settings.database_url), model).run_source(MaildirSource("md", tmp_path / "md"))
    by_id = {o.message_id: o for o in outcomes}
    assert by_id["<g1@customer.test>"].note == "case opened"
    assert by_id["<n1@news.test>"].note == "bulk"
