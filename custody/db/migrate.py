"""Run the Alembic migrations: the only way the catalog schema is created or changed.

Opening an archive only compares the database's revision with ``HEAD_REVISION``, with plain
SQL: importing Alembic costs more than a short command's whole work. A test keeps the
constant equal to the newest migration in ``alembic/versions``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

from .engine import Database

if TYPE_CHECKING:
    from alembic.config import Config

HEAD_REVISION = "0006_scale_indexes"
"""The newest migration this version of custody ships."""

def _config() -> Config:
    from alembic.config import Config

    from ..resources import migrations_folder

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_folder()))
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply pending migrations up to ``revision``."""
    from alembic import command

    cfg = _config()
    with db.writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(db: Database) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with db.reader.connect() as conn:
        # Asked by name, so a locked or unreadable database is reported as such, not as "empty".
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])


def head_revision() -> str:
    """The newest migration this version of custody ships."""
    return HEAD_REVISION


def script_head() -> str:
    """The head revision as Alembic reads it from the migration scripts (for the tests)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def pending(db: Database) -> bool:
    """True when the database is behind this version of custody."""
    return current_revision(db) != HEAD_REVISION
