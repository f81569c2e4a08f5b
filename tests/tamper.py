"""Direct database tampering, as an insider with SQL access would do it (tests only)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

TABLES = ("actors", "items", "item_cases", "events", "tree_nodes", "checkpoints")


def drop_triggers(conn: sqlite3.Connection) -> None:
    for (name,) in conn.execute("select name from sqlite_master where type='trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")


def sql(archive: Path, *statements: str) -> None:
    """Run statements with the append-only triggers dropped first."""
    with sqlite3.connect(archive / "custody.db") as conn:
        drop_triggers(conn)
        for statement in statements:
            conn.execute(statement)
