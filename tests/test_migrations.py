"""`triage db upgrade` carries an existing database forward without losing data."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import create_engine

from conftest import ROOT
from triage.migrate import SchemaOutdated, ensure_schema, upgrade

OLD_ROWS = [
    "INSERT INTO cases (id, ref, status, category, secondary, severity, language, customer, customer_name, subject, order_numbers, facts, reasons, confidence, labels_confirmed, created_at, due_at) "
    "VALUES (1, 'C-2026-000001', 'new', 'damage', '[]', 'high', 'en', 'greg@brightside.test', 'Greg', 'Damaged cartons', '[\"PO 88213\"]', '{}', '[]', 0.9, 0, '2026-11-20 08:00:00', '2026-11-20 16:00:00')",
    "INSERT INTO messages (id, source, source_key, status, reason, message_id, content_sha256, size, raw, subject, sender, sent_at, received_at, language, is_complaint, category, severity, newest, understanding, case_id) "
    "VALUES (1, 'sample', 'k1', 'processed', NULL, '<a@b>', 'ff', 10, NULL, 'Damaged cartons', 'greg@brightside.test', NULL, '2026-11-20 08:00:00', 'en', 1, 'damage', 'high', 'crushed', '{}', 1)",
    "INSERT INTO drafts (id, case_id, status, language, subject, body, in_reply_to, \"references\", guard, created_at, approved_by, approved_at) "
    "VALUES (1, 1, 'pending', 'en', 'Re: Damaged cartons [C-2026-000001]', 'Dear Greg', '<a@b>', '[]', '[]', '2026-11-20 08:00:00', NULL, NULL)",
]


def _old_database(path, stamped: bool):
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine, "0001")
    with sqlite3.connect(path) as con:
        for sql in OLD_ROWS:
            con.execute(sql)
        if not stamped:  # the first release created its tables without Alembic
            con.execute("DROP TABLE alembic_version")
    return engine


@pytest.mark.parametrize("stamped", [True, False])
def test_upgrade_keeps_data(tmp_path, stamped):
    db = tmp_path / "old.db"
    engine = _old_database(db, stamped)
    with pytest.raises(SchemaOutdated, match="triage db upgrade"):
        ensure_schema(engine)
    r = subprocess.run([sys.executable, "-m", "triage", "db", "upgrade", "--database", f"sqlite:///{db}"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "-> 0002" in r.stdout
    ensure_schema(engine)  # now current
    with sqlite3.connect(db) as con:
        row = con.execute("SELECT ref, severity, customer_domain, department, order_numbers FROM cases").fetchone()
        assert row[:4] == ("C-2026-000001", "high", "brightside.test", "")
        assert json.loads(row[4]) == ["PO 88213"]
        assert con.execute("SELECT direction FROM messages").fetchone() == ("in",)
        assert con.execute("SELECT body, imap_uid FROM drafts").fetchone() == ("Dear Greg", None)
    shown = subprocess.run([sys.executable, "-m", "triage", "cases", "--database", f"sqlite:///{db}", "--json"], cwd=ROOT,
                           capture_output=True, text=True)
    assert json.loads(shown.stdout)["message_ids"] == ["<a@b>"]


def test_models_match_migrations(tmp_path):
    """A model change without a migration would be caught here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from triage.db import Base

    engine = create_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
