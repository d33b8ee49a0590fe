from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
CORPUS = Path(os.environ.get("TRIAGE_CORPUS", ROOT.parent / "shared" / "corpus"))
SAMPLE_MAILBOX = ROOT / "training_data" / "sample_mailbox"

from dovecot import Dovecot, dovecot_binary  # noqa: E402


@pytest.fixture(scope="session")
def model():
    """The bundled model, exactly as the quick start uses it."""
    from triage.nlp.classifier import load_model

    return load_model(ROOT / "models" / "triage-model.joblib")


@pytest.fixture(scope="session")
def dovecot():
    if dovecot_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("dovecot is not installed on CI; .ci/run must install it")
        pytest.skip("dovecot not installed (scripts/test.sh installs it)")
    root = Path(tempfile.mkdtemp(prefix="triage-dovecot-"))
    server = Dovecot(root, "s3cret-test-pw").start()
    yield server
    server.stop()


@pytest.fixture
def imap_user(dovecot, request):
    """A fresh IMAP account per test, so tests never see each other's mail."""
    import re

    name = re.sub(r"[^a-z0-9]", "", request.node.name.lower())[:40] + "@example.test"
    return name, dovecot.password


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'triage.db'}"


@pytest.fixture(scope="session")
def postgres():
    from postgres import Postgres, pg_bin

    if pg_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed on CI; scripts/test.sh must install it")
        pytest.skip("PostgreSQL not installed (scripts/test.sh installs it)")
    server = Postgres(Path(tempfile.mkdtemp(prefix="triage-pg-"))).start()
    yield server
    server.stop()
