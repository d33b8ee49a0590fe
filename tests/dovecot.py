"""A real Dovecot IMAP server for tests: throwaway config, loopback port, Maildir, one password file.

Started as a child process (`dovecot -F`), so it dies with the test session. Plain login is allowed
only because it listens on 127.0.0.1. A throwaway private CA signs the server certificate, so tests
can show that certificate checking is really on: the CA file makes TLS work, its absence makes it
fail. The same port offers STARTTLS; `tls_port` is implicit TLS (the port-993 style).

With `oauth_introspection_url`, a second passdb checks XOAUTH2 bearer tokens against that URL, the
way Dovecot fronts an OAuth2 provider in production, so the real SASL exchange is exercised.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dovecot_binary() -> str | None:
    for p in (shutil.which("dovecot"), "/usr/sbin/dovecot"):
        if p and os.path.exists(p):
            return p
    return None


class Dovecot:
    def __init__(self, root: Path, password: str, oauth_introspection_url: str = "") -> None:
        # A static passdb: any user name logs in with this one password, so each test can use a
        # fresh mailbox of its own without touching the server's config.
        self.root = root
        self.password = password
        self.oauth_introspection_url = oauth_introspection_url
        self.port = free_port()
        self.tls_port = free_port()
        self.ca_file = root / "tls" / "ca.pem"
        self.host = "127.0.0.1"
        self.proc: subprocess.Popen | None = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam("nobody")
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
        else:
            self.uid, self.gid = os.getuid(), os.getgid()

    def _config(self) -> str:
        r = self.root
        return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
info_log_path = {r}/dovecot.log
ssl = yes
ssl_cert = <{r}/tls/server.pem
ssl_key = <{r}/tls/server.key
disable_plaintext_auth = no
auth_failure_delay = 0
auth_mechanisms = plain login{" xoauth2 oauthbearer" if self.oauth_introspection_url else ""}
first_valid_uid = 1
mail_location = maildir:{r}/mail/%u/Maildir
mail_uid = {self.uid}
mail_gid = {self.gid}
passdb {{
  driver = static
  args = password={self.password}
}}
{self._oauth_passdb()}userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={r}/mail/%u
}}
namespace inbox {{
  inbox = yes
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    # No growing delay after failed logins: tests fail logins on purpose, from one IP.
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""

    def _oauth_passdb(self) -> str:
        # Only tried after the static password failed (result_failure = continue), i.e. for tokens.
        if not self.oauth_introspection_url:
            return ""
        conf = self.root / "oauth2.conf.ext"
        conf.write_text(
            f"introspection_mode = post\n"
            f"introspection_url = {self.oauth_introspection_url}\n"
            "force_introspection = yes\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
        )
        return f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {conf}
}}
"""

    def _make_certificates(self) -> None:
        """A private CA and a server certificate for 127.0.0.1, as a company's own PKI would issue."""
        tls = self.root / "tls"
        if (tls / "server.pem").exists():
            return
        tls.mkdir(parents=True, exist_ok=True)
        openssl = shutil.which("openssl")
        if openssl is None:
            raise RuntimeError("openssl is not installed; run scripts/test.sh, which installs it")

        def run(*args: str) -> None:
            subprocess.run([openssl, *args], cwd=tls, check=True, capture_output=True, timeout=60)

        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=triage test CA", "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr")
        (tls / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                     "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem")
        os.chmod(tls / "server.key", 0o644)

    def start(self) -> "Dovecot":
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError("dovecot is not installed; run scripts/test.sh, which installs it")
        for d in ("run", "state", "mail"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        self._make_certificates()
        (self.root / "dovecot.conf").write_text(self._config())
        if os.geteuid() == 0:
            os.chown(self.root / "mail", self.uid, self.gid)
            os.chmod(self.root, 0o755)
        self.proc = subprocess.Popen([binary, "-F", "-c", str(self.root / "dovecot.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 15) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc and self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                log = (self.root / "dovecot.log").read_text(errors="replace") if (self.root / "dovecot.log").exists() else ""
                raise RuntimeError(f"dovecot exited: {err}\n{log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("dovecot did not start listening in time")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._kill_sessions()

    def _kill_sessions(self) -> None:
        """Logged-in imap processes can outlive the master; a real restart drops them, so do we."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own process group (start_new_session)
        except (ProcessLookupError, PermissionError):
            pass

    def restart(self) -> None:
        self.stop()
        self.start()
