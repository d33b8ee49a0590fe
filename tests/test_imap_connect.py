"""Connecting to real mailboxes, against a real Dovecot: TLS with a private CA, XOAUTH2 checked by the
server against an introspection endpoint, several folders, IDLE, server restarts, UIDVALIDITY changes
and large folders. Nothing here mocks IMAP: the server is the judge of every exchange.

This module runs its own Dovecot (with the OAuth2 passdb) so that restarting it cannot disturb the
other modules' server.
"""
from __future__ import annotations

import json
import logging
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from dovecot import Dovecot, dovecot_binary
from mail import COMPLAINT_EN, COMPLAINT_ZH, NOT_COMPLAINT_EN, make_mail
from triage.config import ConfigError, SourceConfig, settings_from_dict
from triage.db import Checkpoint, Message, make_sessionmaker
from triage.pipeline import Pipeline
from triage.sources.imap import ImapCertificateError, ImapSource
from triage.sources.oauth import CachedTokenProvider, OAuthError, Token, msal_fetcher, parse_token_output

PASSWORD = "connect-test-pw-7f3a"
GOOD_TOKEN = "ya29.good-token-Zq81x"


class Introspection:
    """The OAuth2 provider's token-introspection endpoint that Dovecot asks about each bearer token."""

    def __init__(self) -> None:
        self.accepted: dict[str, str] = {}  # token -> user name it belongs to
        self.asked: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                token = parse_qs(body).get("token", [""])[0]
                outer.asked.append(token)
                user = outer.accepted.get(token)
                data = json.dumps({"active": True, "username": user} if user else {"active": False}).encode()
                self.send_response(200)  # RFC 7662: an unknown token is "active": false, not an HTTP error
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/introspect"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def introspection():
    endpoint = Introspection()
    yield endpoint
    endpoint.close()


@pytest.fixture(scope="module")
def server(introspection):
    if dovecot_binary() is None:
        pytest.skip("dovecot not installed (scripts/test.sh installs it)")
    d = Dovecot(Path(tempfile.mkdtemp(prefix="triage-connect-")), PASSWORD, oauth_introspection_url=introspection.url)
    d.start()
    yield d
    d.stop()


@pytest.fixture
def user(server, request, monkeypatch) -> str:
    monkeypatch.setenv("CONNECT_TEST_PW", PASSWORD)
    name = "".join(c for c in request.node.name.lower() if c.isalnum())[:40]
    return f"{name}@example.test"


@pytest.fixture
def writer(server, user):
    """Another mail client on the same mailbox: the customer's mail arriving, a colleague's actions."""
    client = IMAPClient(server.host, port=server.port, ssl=False)
    client.login(user, PASSWORD)
    yield client
    try:
        client.logout()
    except Exception:
        pass


def source_cfg(server, user: str, **over) -> SourceConfig:
    raw = {"name": "inbox", "kind": "imap", "host": "127.0.0.1", "port": server.port, "security": "plain",
           "username": user, "password_env": "CONNECT_TEST_PW", "folders": ["INBOX"],
           "reconnect_backoff_seconds": 0.2, **over}
    return settings_from_dict({"sources": [raw]}).sources[0]


def make_pipeline(db_url: str, model, cfg: SourceConfig) -> tuple[Pipeline, sessionmaker]:
    settings = settings_from_dict({"database_url": db_url, "company": {"own_addresses": ["sales@example.test"]}})
    sessions = make_sessionmaker(db_url)
    return Pipeline(settings, sessions, model), sessions


def mails(n: int, tag: str) -> list[bytes]:
    bodies = (COMPLAINT_EN, NOT_COMPLAINT_EN, COMPLAINT_ZH)
    return [make_mail(bodies[i % 3], subject=f"{tag} {i}", msgid=f"<{tag}-{i}@customer.test>") for i in range(n)]


def logged(caplog) -> str:
    """Everything that reached the logs, with triage's key=value fields as the log file would show them."""
    from triage.log import LogfmtFormatter

    fmt = LogfmtFormatter()
    return caplog.text + "\n".join(fmt.format(r) for r in caplog.records)


def message_count(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count(Message.id)))


def keys_recorded(sessions) -> list[str]:
    with sessions() as s:
        return sorted(s.scalars(select(Message.content_sha256)))


# ---- TLS ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_with_the_private_ca_connects(server, user, security):
    port = server.tls_port if security == "ssl" else server.port
    source = ImapSource(source_cfg(server, user, security=security, port=port, ca_file=str(server.ca_file)))
    client = source.connect()
    assert client.select_folder("INBOX")[b"UIDVALIDITY"]
    sock = client.socket()
    assert sock.version() and sock.version().startswith("TLS")  # really encrypted, not merely logged in
    source.close()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_without_the_ca_is_a_clear_certificate_error_not_retried(server, user, security):
    port = server.tls_port if security == "ssl" else server.port
    slept: list[float] = []
    source = ImapSource(source_cfg(server, user, security=security, port=port), sleep=slept.append)
    with pytest.raises(ImapCertificateError) as err:
        source.connect()
    assert "could not be verified" in str(err.value) and "ca_file" in str(err.value)
    assert slept == []  # waiting never fixes a certificate


def test_plain_is_refused_for_a_remote_host():
    with pytest.raises(ConfigError, match="loopback"):
        settings_from_dict({"sources": [{"name": "a", "kind": "imap", "host": "imap.example.com", "security": "plain"}]})


# ---- XOAUTH2 -----------------------------------------------------------------------------------

def token_command(tmp_path: Path, tokens: list[str]) -> str:
    """A stand-in for the admin's token tool: prints the next token of `tokens` and counts its runs."""
    script = tmp_path / "token_tool.py"
    script.write_text(
        "import json, pathlib, sys\n"
        f"state = pathlib.Path({str(tmp_path / 'runs')!r})\n"
        "n = int(state.read_text()) if state.exists() else 0\n"
        "state.write_text(str(n + 1))\n"
        f"tokens = {json.dumps(tokens)}\n"
        "print(tokens[min(n, len(tokens) - 1)])\n")
    return f"{sys.executable} {script}"


def runs(tmp_path: Path) -> int:
    f = tmp_path / "runs"
    return int(f.read_text()) if f.exists() else 0


def test_xoauth2_with_token_command_reads_mail_and_never_logs_the_token(
        server, user, writer, introspection, tmp_path, db_url, model, caplog):
    caplog.set_level(logging.DEBUG)  # imapclient's wire log too
    introspection.accepted[GOOD_TOKEN] = user
    writer.append("INBOX", make_mail(COMPLAINT_EN, msgid="<oauth-1@customer.test>"))
    cfg = source_cfg(server, user, auth="xoauth2", oauth_token_command=token_command(tmp_path, [GOOD_TOKEN]),
                     password_env="")
    pipeline, sessions = make_pipeline(db_url, model, cfg)
    source = ImapSource(cfg)
    assert [o.status for o in pipeline.run_source(source)] == ["processed"]
    source.close()
    assert pipeline.run_source(source) == []  # a second login: the cached token, no second run of the tool
    source.close()
    assert runs(tmp_path) == 1
    assert introspection.asked.count(GOOD_TOKEN) == 2  # the server really checked it, each login
    assert GOOD_TOKEN not in logged(caplog)
    assert "event=imap_connected" in logged(caplog) and "auth=xoauth2" in logged(caplog)


def test_xoauth2_refused_token_is_replaced_once(server, user, introspection, tmp_path, caplog):
    """A token revoked before its expiry: the server says no, a fresh one is fetched and accepted."""
    caplog.set_level(logging.DEBUG)
    revoked, fresh = "revoked-token-111", "fresh-token-222"
    introspection.accepted[fresh] = user
    cfg = source_cfg(server, user, auth="xoauth2", oauth_token_command=token_command(tmp_path, [revoked, fresh]))
    source = ImapSource(cfg)
    source.connect().select_folder("INBOX")
    source.close()
    assert runs(tmp_path) == 2 and revoked in introspection.asked
    assert revoked not in logged(caplog) and fresh not in logged(caplog)


def test_xoauth2_wrong_token_is_a_login_error_without_the_token(server, user, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    cfg = source_cfg(server, user, auth="xoauth2", oauth_token_command=token_command(tmp_path, ["nope-token-333"]))
    with pytest.raises(LoginError):
        ImapSource(cfg).connect()
    assert "nope-token-333" not in logged(caplog)


def test_failing_token_command_names_the_tool_not_a_secret(server, user, tmp_path):
    cfg = source_cfg(server, user, auth="xoauth2", oauth_token_command=f"{sys.executable} -c 'import sys; sys.exit(3)'")
    with pytest.raises(OAuthError, match="exit status 3"):
        ImapSource(cfg).connect()


def test_token_refreshed_a_margin_before_expiry():
    now = [1000.0]
    fetched: list[float] = []

    def fetch(t: float) -> Token:
        fetched.append(t)
        return Token(f"tok{len(fetched)}", t + 3600)

    tokens = CachedTokenProvider(fetch, margin=300, clock=lambda: now[0])
    assert tokens.token() == "tok1"
    now[0] += 3299  # 301 s left: still good
    assert tokens.token() == "tok1"
    now[0] += 2  # 299 s left: inside the margin, refresh before the server would refuse it
    assert tokens.token() == "tok2" and len(fetched) == 2
    assert "tok2" not in repr(Token("tok2", 1))


def test_token_command_json_output_sets_the_expiry():
    tok = parse_token_output('{"access_token": "abc", "expires_in": 120, "token_type": "Bearer"}', 10.0, 3000)
    assert tok.value == "abc" and tok.expires_at == 130.0
    with pytest.raises(OAuthError):
        parse_token_output("two words", 0, 60)


def test_msal_client_credentials_request(monkeypatch):
    """msal cannot reach Microsoft here: check what we ask it for and how its answers are used."""
    monkeypatch.setenv("M365_SECRET", "app-secret-value")
    cfg = SourceConfig(name="m365", kind="imap", host="outlook.office365.com", username="sales@contoso.example",
                       auth="xoauth2", oauth_tenant="contoso.example", oauth_client_id="cid-1",
                       oauth_client_secret_env="M365_SECRET")
    built: list[tuple[str, str, str]] = []
    answers = [{"error": "invalid_client", "error_description": "AADSTS7000215"},
               {"access_token": "m365-token", "expires_in": 3599}]
    asked: list[list[str]] = []

    class App:
        def acquire_token_for_client(self, scopes: list[str]) -> dict:
            asked.append(scopes)
            return answers.pop(0)

    fetch = msal_fetcher(cfg, app_factory=lambda *a: built.append(a) or App())
    with pytest.raises(OAuthError, match="invalid_client") as err:
        fetch(0.0)
    assert "app-secret-value" not in str(err.value)
    assert fetch(0.0) == Token("m365-token", 3599.0)
    assert built == [("contoso.example", "cid-1", "app-secret-value")]  # one app, built once
    assert asked == [["https://outlook.office365.com/.default"]] * 2


def test_msal_real_application_is_built_for_the_tenant(monkeypatch):
    msal = pytest.importorskip("msal")
    from triage.sources.oauth import _default_msal_app

    made = {}
    monkeypatch.setattr(msal, "ConfidentialClientApplication", lambda cid, **kw: made.update(cid=cid, **kw) or object())
    _default_msal_app("contoso.example", "cid-1", "s")
    assert made == {"cid": "cid-1", "authority": "https://login.microsoftonline.com/contoso.example", "client_credential": "s"}


def test_xoauth2_without_a_token_source_is_a_config_error():
    with pytest.raises(ConfigError, match="oauth_token_command"):
        settings_from_dict({"sources": [{"name": "a", "kind": "imap", "host": "h", "auth": "xoauth2"}]})


# ---- several folders ---------------------------------------------------------------------------

def test_each_folder_has_its_own_checkpoint(server, user, writer, db_url, model):
    writer.create_folder("Claims")
    for m in mails(2, "inbox"):
        writer.append("INBOX", m)
    for m in mails(3, "claims"):
        writer.append("Claims", m)
    cfg = source_cfg(server, user, folders=["INBOX", "Claims"])
    pipeline, sessions = make_pipeline(db_url, model, cfg)
    source = ImapSource(cfg)
    first = pipeline.run_source(source)
    writer.append("Claims", make_mail(COMPLAINT_EN, subject="late one", msgid="<claims-late@customer.test>"))
    second = pipeline.run_source(source)
    source.close()
    assert len(first) == 5 and [o.message_id for o in second] == ["<claims-late@customer.test>"]
    with sessions() as s:
        cps = {c.folder: (c.last_uid, c.uidvalidity) for c in s.scalars(select(Checkpoint))}
    assert cps["INBOX"][0] == 2 and cps["Claims"][0] == 4
    assert cps["INBOX"][1] != cps["Claims"][1]  # each folder's own UID space


# ---- IDLE --------------------------------------------------------------------------------------

def test_idle_wakes_within_seconds_when_mail_arrives(server, user, writer, db_url, model):
    cfg = source_cfg(server, user)
    pipeline, _ = make_pipeline(db_url, model, cfg)
    source = ImapSource(cfg)
    pipeline.run_source(source)  # the poll before the wait
    threading.Timer(1.0, lambda: writer.append("INBOX", make_mail(COMPLAINT_EN, msgid="<idle-1@customer.test>"))).start()
    t0 = time.monotonic()
    assert source.wait_for_news(30) is True
    waited = time.monotonic() - t0
    assert 0.8 < waited < 5
    assert [o.message_id for o in pipeline.run_source(source)] == ["<idle-1@customer.test>"]
    source.close()


def test_idle_returns_at_once_for_mail_that_came_between_poll_and_wait(server, user, writer, db_url, model):
    cfg = source_cfg(server, user)
    pipeline, _ = make_pipeline(db_url, model, cfg)
    source = ImapSource(cfg)
    pipeline.run_source(source)
    writer.append("INBOX", make_mail(COMPLAINT_EN, msgid="<between@customer.test>"))
    t0 = time.monotonic()
    assert source.wait_for_news(30) is True and time.monotonic() - t0 < 1
    source.close()


def test_idle_times_out_quietly_and_stops_on_request(server, user, db_url, model):
    source = ImapSource(source_cfg(server, user))
    t0 = time.monotonic()
    assert source.wait_for_news(1.5) is False
    assert 1.4 < time.monotonic() - t0 < 3
    t0 = time.monotonic()
    assert source.wait_for_news(30, stop=lambda: time.monotonic() - t0 > 0.5) is False
    assert time.monotonic() - t0 < 2.5  # SIGTERM is not held up by a long IDLE
    source.connect().noop()  # IDLE was ended cleanly: the connection still takes commands
    source.close()


def test_without_idle_the_wait_is_a_plain_pause(server, user):
    slept: list[float] = []
    source = ImapSource(source_cfg(server, user, idle=False), sleep=lambda s: (slept.append(s), time.sleep(s)))
    assert source.wait_for_news(0.3) is False
    assert slept and source._client is None  # no connection was opened for it


# ---- restarts and dropped connections ----------------------------------------------------------

def test_server_restart_between_passes(server, user, writer, db_url, model):
    for m in mails(3, "before"):
        writer.append("INBOX", m)
    cfg = source_cfg(server, user)
    pipeline, sessions = make_pipeline(db_url, model, cfg)
    source = ImapSource(cfg)
    pipeline.run_source(source)
    server.restart()
    w2 = IMAPClient(server.host, port=server.port, ssl=False)
    w2.login(user, PASSWORD)
    for m in mails(2, "after"):
        w2.append("INBOX", m)
    w2.logout()
    second = pipeline.run_source(source)  # the old connection is dead: reconnect, carry on
    source.close()
    assert [o.message_id for o in second] == ["<after-0@customer.test>", "<after-1@customer.test>"]
    assert message_count(sessions) == 5


def test_server_restart_mid_fetch_loses_and_repeats_nothing(server, user, writer, db_url, model, caplog):
    all_mail = mails(12, "mid")
    writer.multiappend("INBOX", all_mail)
    cfg = source_cfg(server, user, batch_size=4)
    pipeline, sessions = make_pipeline(db_url, model, cfg)
    source = ImapSource(cfg)
    seen = {"n": 0}

    def restart_after_five() -> bool:  # `stop` is asked before each message: a hook into mid-batch
        seen["n"] += 1
        if seen["n"] == 6:
            server.restart()
        return False

    outcomes = pipeline.run_source(source, stop=restart_after_five)
    source.close()
    assert "imap_connection_lost" in caplog.text
    assert [o.status for o in outcomes] == ["processed"] * 12
    assert sorted(o.message_id for o in outcomes) == sorted(f"<mid-{i}@customer.test>" for i in range(12))
    assert message_count(sessions) == 12
    assert PASSWORD not in logged(caplog)


def test_reconnect_waits_with_backoff_while_the_server_is_down(server, user, caplog):
    source = ImapSource(source_cfg(server, user, reconnect_attempts=8, reconnect_backoff_seconds=0.2))
    server.stop()
    threading.Timer(1.0, server.start).start()
    client = source.connect()  # returns only once the server is back
    assert client.select_folder("INBOX")
    source.close()
    waits = [r for r in caplog.records if r.getMessage() == "imap_reconnect_wait"]
    assert len(waits) >= 2
    delays = [float(r.fields["seconds"]) for r in waits]
    assert delays == sorted(delays) and delays[1] == 2 * delays[0]


# ---- UIDVALIDITY -------------------------------------------------------------------------------

def test_uidvalidity_change_resyncs_without_duplicates(server, user, writer, db_url, model, caplog):
    writer.create_folder("Orders")
    old = mails(3, "uv")
    for m in old:
        writer.append("Orders", m)
    cfg = source_cfg(server, user, folders=["Orders"])
    pipeline, sessions = make_pipeline(db_url, model, cfg)
    source = ImapSource(cfg)
    assert len(pipeline.run_source(source)) == 3
    with sessions() as s:
        before = s.scalar(select(Checkpoint)).uidvalidity
    # The folder is deleted and restored from a backup: the same mail under new UIDs, plus a new one.
    writer.delete_folder("Orders")
    writer.create_folder("Orders")
    for m in old:
        writer.append("Orders", m)
    writer.append("Orders", make_mail(COMPLAINT_EN, subject="new after restore", msgid="<uv-new@customer.test>"))
    again = pipeline.run_source(source)
    source.close()
    assert [o.status for o in again] == ["duplicate"] * 3 + ["processed"]
    assert again[-1].message_id == "<uv-new@customer.test>"
    assert message_count(sessions) == 4
    with sessions() as s:
        cp = s.scalar(select(Checkpoint))
        assert cp.uidvalidity != before and cp.last_uid == 4
    assert "uidvalidity_changed" in caplog.text


# ---- large mailboxes ---------------------------------------------------------------------------

class CommandLog:
    """Counts the IMAP commands a source sends, at imaplib's level: what the server actually sees."""

    def __init__(self, source: ImapSource) -> None:
        self.names: list[str] = []
        client = source.connect()
        imap = client._imap
        original = imap._command
        raw = client._raw_command  # imapclient sends SEARCH (and a few others) itself, past imaplib

        def counting(name: str, *args):
            self.names.append(name)
            return original(name, *args)

        def counting_raw(command, args, uid=True):
            name = command.decode() if isinstance(command, bytes) else str(command)
            self.names.append(f"UID {name}" if uid else name)
            return raw(command, args, uid=uid)

        imap._command = counting
        client._raw_command = counting_raw


def test_start_now_then_a_no_news_poll_is_two_light_commands_whatever_the_size(server, user, writer, db_url, model, caplog):
    caplog.set_level(logging.INFO)
    for start in range(0, 3000, 500):  # a big folder, quickly: MULTIAPPEND in chunks
        writer.multiappend("INBOX", [make_mail(NOT_COMPLAINT_EN, msgid=f"<bulk-{start + i}@c.test>") for i in range(500)])
    cfg = source_cfg(server, user, start="now")
    pipeline, sessions = make_pipeline(db_url, model, cfg)
    source = ImapSource(cfg)
    assert pipeline.run_source(source) == []  # the 3000 old messages are history
    assert "imap_start_from_now" in caplog.text
    commands = CommandLog(source)
    t0 = time.perf_counter()
    assert pipeline.run_source(source) == []
    big_poll = time.perf_counter() - t0
    # The folder the last pass selected is still open: NOOP, then a UID range search past the
    # checkpoint. No SELECT of the big folder, no FETCH.
    assert [c for c in commands.names if c != "CAPABILITY"] == ["NOOP", "UID SEARCH"]
    assert big_poll < 0.5
    commands.names.clear()
    assert pipeline.run_source(source) == []
    assert commands.names == ["NOOP", "UID SEARCH"]  # and the same two light commands at every no-news poll
    # New mail while the folder is open: the NOOP reports it, and this same poll fetches it.
    writer.append("INBOX", make_mail(COMPLAINT_EN, msgid="<while-open@customer.test>"))
    assert [o.message_id for o in pipeline.run_source(source)] == ["<while-open@customer.test>"]
    assert pipeline.run_source(source) == []
    # With no folder open (after a reconnect, or when another folder was read last): one STATUS.
    source.close()
    commands = CommandLog(source)
    assert pipeline.run_source(source) == []
    assert [c for c in commands.names if c not in ("CAPABILITY", "LOGIN", "AUTHENTICATE")] == ["STATUS"]
    writer.append("INBOX", make_mail(COMPLAINT_EN, msgid="<after-start@customer.test>"))
    assert [o.message_id for o in pipeline.run_source(source)] == ["<after-start@customer.test>"]
    source.close()
    with sessions() as s:
        assert s.scalar(select(Checkpoint)).last_uid == 3002


def test_backfill_since_reads_only_recent_mail_in_batches(server, user, writer, db_url, model, caplog):
    caplog.set_level(logging.INFO)
    old_day = datetime(2025, 6, 1, tzinfo=timezone.utc)
    new_day = datetime(2026, 2, 1, tzinfo=timezone.utc)
    for i, m in enumerate(mails(8, "bf")):
        writer.append("INBOX", m, msg_time=old_day if i % 2 == 0 else new_day)  # interleaved, as real folders are
    cfg = source_cfg(server, user, backfill_since="2026-01-01", batch_size=2)
    pipeline, sessions = make_pipeline(db_url, model, cfg)
    source = ImapSource(cfg)
    got = pipeline.run_source(source)
    source.close()
    assert [o.message_id for o in got] == [f"<bf-{i}@customer.test>" for i in (1, 3, 5, 7)]
    progress = [r.fields for r in caplog.records if r.getMessage() == "imap_progress"]
    assert [(p["done"], p["total"]) for p in progress] == [(0, 4), (2, 4), (4, 4)]  # the last one completes the bar
    with sessions() as s:
        assert s.scalar(select(Checkpoint)).last_uid == 8  # the old ones are behind the checkpoint for good


def test_backfill_since_must_be_a_date():
    with pytest.raises(ConfigError, match="backfill_since"):
        settings_from_dict({"sources": [{"name": "a", "kind": "imap", "host": "h", "backfill_since": "last week"}]})
