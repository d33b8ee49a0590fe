"""The CLI contracts: JSON lines per file for parse/classify, process into a given database, cases --json."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, SAMPLE_MAILBOX
from mail import COMPLAINT_EN, NOT_COMPLAINT_EN, make_mail

SAMPLE_FILES = sorted(str(p) for p in (SAMPLE_MAILBOX / "new").iterdir())


def triage(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "triage", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def _lines(out: str) -> list[dict]:
    return [json.loads(x) for x in out.splitlines() if x.strip()]


def test_parse_json_many_files_one_process(tmp_path):
    missing = str(tmp_path / "missing.eml")
    r = triage("parse", *SAMPLE_FILES, missing, "--json")
    assert r.returncode == 0, r.stderr
    rows = _lines(r.stdout)
    assert [row["file"] for row in rows] == SAMPLE_FILES + [missing]
    ok = [row for row in rows if "error" not in row]
    assert set(ok[0]) == {"file", "message_id", "subject", "from", "date", "text", "newest", "attachments", "auto"}
    assert {row["auto"] for row in ok} == {None, "auto-reply", "bounce"}
    errors = [row for row in rows if "error" in row]
    assert len(errors) == 2 and set(errors[0]) == {"file", "error"}  # the junk file and the missing one
    photos = [row for row in ok if row["attachments"]]
    assert photos[0]["attachments"][0] == {"name": "IMG_4012.jpg", "content_type": "image/jpeg", "size": photos[0]["attachments"][0]["size"]}


def test_classify_json_contract(tmp_path):
    (tmp_path / "a.eml").write_bytes(make_mail(COMPLAINT_EN, subject="Broken vases PO 77120"))
    (tmp_path / "b.eml").write_bytes(make_mail(NOT_COMPLAINT_EN, subject="Price list"))
    (tmp_path / "c.eml").write_bytes(os.urandom(500))
    r = triage("classify", str(tmp_path / "a.eml"), str(tmp_path / "b.eml"), str(tmp_path / "c.eml"), "--json")
    assert r.returncode == 0, r.stderr
    a, b, c = _lines(r.stdout)
    for key in ("file", "language", "is_complaint", "category", "secondary", "severity", "confidence", "order_numbers",
                "quantities", "amounts", "remedy", "has_attachments", "draft"):
        assert key in a and key in b
    assert a["is_complaint"] is True and a["category"] == "damage" and a["language"] == "en"
    assert set(a["draft"]) == {"subject", "body"} and "Broken vases" in a["draft"]["subject"]
    assert b["is_complaint"] is False and b["draft"] is None and b["severity"] == "none"
    assert set(c) == {"file", "error"}


def test_process_maildir_into_database_then_cases_json(tmp_path):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    r = triage("process", "--maildir", str(SAMPLE_MAILBOX), "--database", db)
    assert r.returncode == 0, r.stderr
    assert "cases opened" in r.stdout
    assert "event=case_opened" in r.stderr and "event=quarantined" in r.stderr
    again = triage("process", "--maildir", str(SAMPLE_MAILBOX), "--database", db)
    assert "0 new messages" in again.stdout
    cases = _lines(triage("cases", "--database", db, "--json").stdout)
    assert cases and {"ref", "status", "category", "severity", "message_ids"} <= set(cases[0])
    # The follow-up in the sample mailbox threads onto the first complaint's case.
    assert any(len(c["message_ids"]) == 2 for c in cases)
    refs = [c["ref"] for c in cases]
    assert len(refs) == len(set(refs))
    shown = triage("cases", "--database", db, "show", refs[0])
    assert shown.returncode == 0 and "draft [pending]" in shown.stdout
    q = triage("quarantine", "list", "--database", db)
    assert "no valid header" in q.stdout
    # A manager gives the case to someone; the list filters by it and the history says who did it.
    a = triage("cases", "--database", db, "assign", refs[0], "Wendy Lin", "--as", "manager", "--why", "speaks Mandarin")
    assert a.returncode == 0 and "assigned to Wendy Lin" in a.stdout
    mine = _lines(triage("cases", "--database", db, "--json", "--assignee", "Wendy Lin").stdout)
    assert [c["ref"] for c in mine] == [refs[0]] and mine[0]["assignee"] == "Wendy Lin"
    history = triage("cases", "--database", db, "show", refs[0]).stdout
    assert "assigned" in history and "manager" in history and "Wendy Lin" in history
    missing = triage("cases", "--database", db, "assign", "C-1999-000001", "x")
    assert missing.returncode != 0 and "no case" in missing.stderr


def test_bad_config_is_a_clear_error(tmp_path):
    cfg = tmp_path / "t.toml"
    cfg.write_text('poll_interval_seconds = "soon"\n')
    r = triage("--config", str(cfg), "cases")
    assert r.returncode != 0 and "poll_interval_seconds" in r.stderr


def test_worker_stops_cleanly_on_sigterm(tmp_path):
    import mailbox

    md = mailbox.Maildir(tmp_path / "md", create=True)
    md.add(make_mail(COMPLAINT_EN, msgid="<w1@c.test>"))
    cfg = tmp_path / "t.toml"
    cfg.write_text(f'database_url = "sqlite:///{tmp_path / "w.db"}"\nmodel_path = "{ROOT / "models" / "triage-model.joblib"}"\n'
                   f'poll_interval_seconds = 1\n[[sources]]\nname = "md"\nkind = "maildir"\npath = "{tmp_path / "md"}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "triage", "--config", str(cfg), "run"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    err = ""
    while time.time() < deadline:
        time.sleep(0.5)
        if (tmp_path / "w.db").exists():
            r = triage("cases", "--database", f"sqlite:///{tmp_path / 'w.db'}", "--json")
            if r.stdout.strip():
                break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "event=worker_stopped" in err and "event=case_opened" in err


def test_failing_poll_is_logged_and_the_worker_keeps_running(tmp_path):
    cfg = tmp_path / "t.toml"
    cfg.write_text(f'database_url = "sqlite:///{tmp_path / "w.db"}"\nmodel_path = "{ROOT / "models" / "triage-model.joblib"}"\n'
                   f'poll_interval_seconds = 1\n[[sources]]\nname = "gone"\nkind = "maildir"\npath = "{tmp_path / "nope"}"\n')
    r = triage("--config", str(cfg), "run", "--max-polls", "2")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("event=poll_failed") == 2 and "event=worker_stopped" in r.stderr


def test_eval_scores_an_outside_set_of_saved_messages(tmp_path):
    """Analysts can label saved .eml files (JSONL pointing at them) and score a set the model never saw."""
    outside = tmp_path / "outside"
    (outside / "mail").mkdir(parents=True)
    (outside / "mail" / "a.eml").write_bytes(make_mail(COMPLAINT_EN, subject="Broken vases PO 77120"))
    (outside / "mail" / "b.eml").write_bytes(make_mail(NOT_COMPLAINT_EN, subject="Price list", msgid="<m2@x.test>"))
    (outside / "mail" / "c.eml").write_bytes(make_mail(
        "我们收到的 500 个杯子里有 120 个碎了，订单 HT-0301，请尽快处理。", subject="杯子破损", msgid="<m3@x.test>"))
    rows = [
        {"id": "out-a", "eml": "mail/a.eml", "language": "en", "is_complaint": True, "category": "damage",
         "secondary": [], "severity": "medium", "remedy": ["replacement"], "refs": ["77120"]},
        {"id": "out-b", "eml": "mail/b.eml", "language": "en", "is_complaint": False, "category": None,
         "secondary": [], "severity": "none", "remedy": [], "refs": []},
        {"id": "out-c", "eml": "mail/c.eml", "language": "zh-Hans", "is_complaint": True, "category": "damage",
         "secondary": [], "severity": "high", "remedy": [], "refs": ["HT-0301"]},
    ]
    (outside / "set.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "validate_training_data.py"), str(outside / "set.jsonl")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    r = triage("eval", "--data", str(outside), "--all", "--corpus", str(tmp_path / "none"))
    assert r.returncode == 0, r.stderr
    assert "All 3 records under" in r.stdout
    complaint_row = next(line for line in r.stdout.splitlines() if line.strip().startswith("complaint "))
    assert complaint_row.split()[-1] == "2"  # both labelled complaints were scored
    # Without --all only the ids that fall in the test split would be scored.
    r = triage("eval", "--data", str(outside), "--corpus", str(tmp_path / "none"))
    assert "All 3" not in r.stdout
