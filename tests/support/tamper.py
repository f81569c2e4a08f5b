"""Direct database tampering, as an insider with SQL access would do it (tests only)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def drop_triggers(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """Drop every trigger; returns (table, SQL) of each, to put them back."""
    triggers = conn.execute("select name, tbl_name, sql from sqlite_master where type='trigger'").fetchall()
    for name, _table, _sql in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    return [(table, definition) for _name, table, definition in triggers]


def sql(archive: Path, *statements: str, restore: bool = True) -> None:
    """Run statements with the append-only triggers dropped, then (by default) put them back as an insider would."""
    with sqlite3.connect(archive / "custody.db") as conn:
        triggers = drop_triggers(conn)
        for statement in statements:
            conn.execute(statement)
        if restore:
            tables = {row[0] for row in conn.execute("select name from sqlite_master where type='table'")}
            for table, definition in triggers:
                if table in tables:  # a statement may have dropped the table itself
                    conn.execute(definition)
