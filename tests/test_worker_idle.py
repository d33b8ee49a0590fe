"""The worker wakes on IMAP IDLE: new mail is processed within seconds, long before the next tick."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from imapclient import IMAPClient

from conftest import ROOT
from mail import COMPLAINT_EN, make_mail


def test_new_mail_is_handled_within_seconds(dovecot, imap_user, tmp_path):
    user, password = imap_user
    db = tmp_path / "w.db"
    cfg = tmp_path / "t.toml"
    cfg.write_text(
        f'database_url = "sqlite:///{db}"\nmodel_path = "{ROOT / "models" / "triage-model.joblib"}"\n'
        f'data_dir = "{tmp_path / "data"}"\npoll_interval_seconds = 600\n'
        f'[[sources]]\nname = "inbox"\nkind = "imap"\nhost = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "plain"\n'
        f'username = "{user}"\npassword_env = "T_PW"\nfolders = ["INBOX"]\n')
    proc = subprocess.Popen([sys.executable, "-m", "triage", "--config", str(cfg), "run"], cwd=ROOT,
                            env={**os.environ, "T_PW": password}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(8)  # first poll done (empty folder), now idling; the next tick is 10 minutes away
        client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False)
        client.login(user, password)
        client.append("INBOX", make_mail(COMPLAINT_EN, msgid="<idle1@customer.test>"))
        sent = time.time()
        handled = None
        while time.time() - sent < 30:
            r = subprocess.run([sys.executable, "-m", "triage", "cases", "--database", f"sqlite:///{db}", "--json"], cwd=ROOT,
                               capture_output=True, text=True)
            if "idle1@customer.test" in r.stdout:
                handled = time.time() - sent
                break
            time.sleep(0.5)
        client.logout()
        assert handled is not None and handled < 30
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "event=new_mail_signalled" in err and "event=worker_stopped" in err
