"""A throwaway PostgreSQL cluster for tests: initdb into a temp folder, started on a free loopback port."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from dovecot import free_port


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Postgres:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.bin = pg_bin()

    def _as_owner(self) -> list[str]:
        # PostgreSQL refuses to run as root: use its own system user when we are root.
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def start(self) -> "Postgres":
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed; run scripts/test.sh, which installs it")
        data, sock = self.root / "data", self.root / "sock"
        self.root.mkdir(parents=True, exist_ok=True)
        sock.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for p in (self.root, sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        subprocess.run(self._as_owner() + [str(self.bin / "initdb"), "-D", str(data), "-U", "triage", "--auth=trust",
                                           "-E", "UTF8", "--locale=C"], check=True, capture_output=True, timeout=120)
        self.proc = subprocess.Popen(self._as_owner() + [str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port),
                                                         "-k", str(sock), "-h", "127.0.0.1", "-c", "fsync=off"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while time.time() < deadline:
            r = subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True)
            if r.returncode == 0:
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.proc.stderr.read().decode(errors='replace')}")
            time.sleep(0.2)
        raise RuntimeError("postgres did not start in time")

    def create_database(self, name: str) -> str:
        subprocess.run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "triage", name],
                       check=True, capture_output=True, timeout=60)
        return f"postgresql+psycopg://triage@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
