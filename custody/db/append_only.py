"""Database triggers that make a table refuse UPDATE and DELETE (used by migrations)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION custody_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'custody: table % is append-only; % refused', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql
"""


def install(conn: Connection, table: str) -> None:
    """Make ``table`` append-only on the connection's dialect (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(_PG_FUNCTION))
        conn.execute(
            text(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION custody_append_only()"
            )
        )
        conn.execute(
            text(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION custody_append_only()"
            )
        )
        return
    for op in ("UPDATE", "DELETE"):
        conn.execute(
            text(
                f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'custody: table {table} is append-only; {op} refused'); END"
            )
        )


def drop(conn: Connection, table: str) -> None:
    """Remove the triggers of ``table`` (only a downgrade that drops the table itself uses this)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"))
        conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}"))
        return
    for op in ("update", "delete"):
        conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{op}"))
