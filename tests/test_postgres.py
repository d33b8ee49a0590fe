"""PostgreSQL is supported: the same migrations, pipeline and threading run on a real server."""
from __future__ import annotations

import subprocess
import sys

from sqlalchemy import create_engine, func, select

from conftest import ROOT, SAMPLE_MAILBOX
from triage.config import settings_from_dict
from triage.db import Case, Message, make_sessionmaker
from triage.migrate import current_revision, upgrade
from triage.pipeline import Pipeline
from triage.sources.maildir import MaildirSource


def test_pipeline_on_postgres(postgres, model, tmp_path):
    url = postgres.create_database("pipeline")
    settings = settings_from_dict({"database_url": url, "data_dir": str(tmp_path / "data")})
    sessions = make_sessionmaker(url)
    pipeline = Pipeline(settings, sessions, model)
    first = pipeline.run_source(MaildirSource("sample", SAMPLE_MAILBOX))
    again = pipeline.run_source(MaildirSource("sample", SAMPLE_MAILBOX))
    assert again == []
    with sessions() as s:
        assert s.scalar(select(func.count(Message.id))) == len(first)
        cases = list(s.scalars(select(Case)))
        assert cases and all(c.ref.startswith("C-") for c in cases)
        assert any(len(c.messages) == 2 for c in cases)  # the sample follow-up threads onto its case
        failed = s.scalar(select(Message).where(Message.status == "failed"))
        assert failed is not None and failed.raw  # quarantined raw bytes kept in bytea


def test_upgrade_from_first_schema_on_postgres(postgres):
    url = postgres.create_database("upgrade")
    engine = create_engine(url)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO cases (ref, status, category, secondary, severity, language, customer, customer_name, subject, "
            "order_numbers, facts, reasons, confidence, labels_confirmed, created_at) VALUES ('C-2026-000001', 'new', "
            "'damage', '[]', 'high', 'en', 'greg@brightside.test', 'Greg', 's', '[]', '{}', '[]', 0.5, false, now())")
    r = subprocess.run([sys.executable, "-m", "triage", "db", "upgrade", "--database", url], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert current_revision(engine) == "0002"
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT customer_domain FROM cases").scalar() == "brightside.test"
