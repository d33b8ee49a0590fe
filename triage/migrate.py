"""Schema versions: new databases are created at the newest revision; old ones are upgraded in place.

`triage db upgrade` runs the Alembic migrations in `triage/migrations/versions/`. A database created
before migrations existed (the first release made its tables directly) is recognised by its tables
and stamped as revision 0001 first, so its data is carried forward rather than recreated.
"""
from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine


class SchemaOutdated(RuntimeError):
    """The database is older than this version of triage: run `triage db upgrade`."""


def _config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "triage:migrations")
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def head_revision(engine: Engine) -> str:
    return ScriptDirectory.from_config(_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to `revision`; returns (before, after)."""
    before = current_revision(engine)
    cfg = _config(engine)
    tables = set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        if before is None and "cases" in tables:
            command.stamp(cfg, "0001")
        command.upgrade(cfg, revision)
    return before, current_revision(engine)


def ensure_schema(engine: Engine) -> None:
    """Create a new database at head; refuse to run on an outdated one (never migrate behind the admin's back)."""
    tables = set(inspect(engine).get_table_names())
    if not tables or tables == {"alembic_version"}:
        upgrade(engine)
        return
    current = current_revision(engine)
    if current != head_revision(engine):
        raise SchemaOutdated(
            f"the database is at schema revision {current or 'pre-migration'}, this triage needs {head_revision(engine)}; "
            "back it up, then run `triage db upgrade`"
        )
