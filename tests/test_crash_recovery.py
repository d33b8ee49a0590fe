"""kill -9 of the worker mid-batch, then a restart: every message recorded once, no case lost or doubled.

The worker runs as the admin runs it (`python -m triage --config ... run`) against a real Dovecot
folder; the test watches the SQLite file and pulls the plug once some messages are in. The reference
is a clean single pass over the same folder into a second database.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from imapclient import IMAPClient
from sqlalchemy import create_engine, text

from conftest import ROOT
from mail import COMPLAINT_EN, COMPLAINT_ZH, NOT_COMPLAINT_EN, make_mail
from triage.config import settings_from_dict
from triage.db import make_sessionmaker
from triage.pipeline import Pipeline
from triage.sources.imap import ImapSource

N_MESSAGES = 60


def corpus() -> list[bytes]:
    """Complaints, non-complaints and replies that thread onto earlier complaints."""
    out = []
    for i in range(N_MESSAGES):
        kind = i % 4
        if kind == 3:  # a reply to the complaint two messages earlier
            parent = f"<crash-{i - 2}@customer.test>"
            out.append(make_mail("Any news? We need an answer this week.", subject=f"Re: order {i - 2}",
                                 msgid=f"<crash-{i}@customer.test>", headers={"In-Reply-To": parent, "References": parent}))
        else:
            body = (COMPLAINT_EN, COMPLAINT_ZH, NOT_COMPLAINT_EN)[kind]
            out.append(make_mail(body, subject=f"order {i}", msgid=f"<crash-{i}@customer.test>"))
    return out


def write_config(path: Path, db: Path, port: int, user: str) -> Path:
    path.write_text(f"""
database_url = "sqlite:///{db}"
model_path = "{ROOT / 'models' / 'triage-model.joblib'}"
poll_interval_seconds = 1

[company]
own_addresses = ["sales@example.test"]

[[sources]]
name = "inbox"
kind = "imap"
host = "127.0.0.1"
port = {port}
security = "plain"
username = "{user}"
password_env = "CRASH_TEST_IMAP_PW"
folders = ["INBOX"]
batch_size = 10
idle = false
""")
    return path


def count(db: Path, sql: str) -> int:
    engine = create_engine(f"sqlite:///{db}", connect_args={"timeout": 5})
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)
    except Exception:  # the worker has not created the tables yet
        return 0
    finally:
        engine.dispose()


def start_worker(config: Path, password: str, log: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "CRASH_TEST_IMAP_PW": password}
    return subprocess.Popen([sys.executable, "-m", "triage", "--config", str(config), "run", *extra], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"))


def clean_run_cases(dovecot, user: str, tmp_path: Path, model, monkeypatch) -> tuple[int, int]:
    monkeypatch.setenv("CRASH_TEST_IMAP_PW", dovecot.password)
    url = f"sqlite:///{tmp_path / 'clean.db'}"
    settings = settings_from_dict({
        "database_url": url, "company": {"own_addresses": ["sales@example.test"]},
        "sources": [{"name": "inbox", "kind": "imap", "host": "127.0.0.1", "port": dovecot.port, "security": "plain",
                     "username": user, "password_env": "CRASH_TEST_IMAP_PW"}]})
    source = ImapSource(settings.sources[0])
    outcomes = Pipeline(settings, make_sessionmaker(url), model).run_source(source)
    source.close()
    return len(outcomes), count(tmp_path / "clean.db", "select count(*) from cases")


def test_sigkill_mid_batch_then_restart_loses_and_repeats_nothing(dovecot, imap_user, tmp_path, model, monkeypatch):
    user, password = imap_user
    writer = IMAPClient(dovecot.host, port=dovecot.port, ssl=False)
    writer.login(user, password)
    writer.multiappend("INBOX", corpus())
    writer.logout()

    db = tmp_path / "triage.db"
    config = write_config(tmp_path / "triage.toml", db, dovecot.port, user)
    log = tmp_path / "worker.log"
    worker = start_worker(config, password, log)
    try:
        deadline = time.monotonic() + 60
        # Recording is fast and comes first; kill while the recorded messages are being processed.
        while count(db, "select count(*) from messages where status != 'received'") < 8:
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the worker recorded nothing within 60 s:\n" + log.read_text()
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait(10)
    at_kill = count(db, "select count(*) from messages where status != 'received'")
    print(f"killed with {at_kill} of {N_MESSAGES} messages processed")
    assert at_kill < N_MESSAGES, "the worker finished before it was killed: the test proves nothing"

    restarted = start_worker(config, password, log, "--max-polls", "1")
    assert restarted.wait(120) == 0, log.read_text()

    clean_messages, clean_cases = clean_run_cases(dovecot, user, tmp_path, model, monkeypatch)
    assert clean_messages == N_MESSAGES
    assert count(db, "select count(*) from messages") == N_MESSAGES
    assert count(db, "select count(distinct content_sha256) from messages") == N_MESSAGES
    assert count(db, "select count(*) from messages where status = 'received'") == 0  # none left half-done
    assert count(db, "select count(*) from cases") == clean_cases > 0
    assert count(db, "select count(*) from messages where case_id is not null") == \
        count(tmp_path / "clean.db", "select count(*) from messages where case_id is not null")
    assert count(db, "select last_uid from checkpoints") == N_MESSAGES
    worker_log = log.read_text()
    assert "worker_started" in worker_log and password not in worker_log
