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


class FifoFeeder:
    """A FIFO put in place of a file, and a thread that writes ``data`` to every reader that opens it: an insider
    serving the genuine bytes to whoever checks, while the stored file itself is gone. Use as a ``with`` block."""

    def __init__(self, path: Path, data: bytes) -> None:
        import threading

        self.path = path
        self._data = data
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, daemon=True)

    def _feed(self) -> None:
        while not self._stop.is_set():
            try:
                with open(self.path, "wb") as fh:  # waits for a reader
                    fh.write(self._data)
            except OSError:
                pass  # the reader closed early

    def __enter__(self) -> FifoFeeder:
        import os

        os.mkfifo(self.path, 0o400)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        import os

        self._stop.set()
        # A writer waiting for a reader is let go by one that opens without waiting.
        os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
        self._thread.join(timeout=10)
