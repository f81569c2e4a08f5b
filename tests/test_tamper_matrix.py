"""The tamper matrix: for every append-only table, an inserted, updated or deleted row is a named failure.

One populated archive is built per database (items in a case, an acquisition, an annotation, an import
from a second archive, timestamped checkpoints) and copied for each case: SQLite by copying the folder,
PostgreSQL with CREATE DATABASE ... TEMPLATE. The guards are bypassed the way an insider would
(SQLite: triggers dropped, then put back; PostgreSQL: session_replication_role = replica).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, create_engine, delete, func, insert, inspect, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.schema import MetaData

from custody.catalog_check import UNSIGNED_COLUMNS
from custody.db.models import APPEND_ONLY_TABLES
from tests.support.archives import Cli
from tests.support.populated import base, copy, db_url, tamper, tsa

__all__ = ["base", "copy", "tsa"]  # module-scoped fixtures, shared with tests/test_completeness.py


# --- generic row edits --------------------------------------------------------------------------------------


def _mutated(value: Any) -> Any:
    """A different value of the same kind (JSON text stays valid JSON, so the edit is not a parse error)."""
    if value is None:
        return "tampered"
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, bytes | memoryview):
        data = bytearray(bytes(value))
        data[0] ^= 0x01
        return bytes(data)
    assert isinstance(value, str)
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return json.dumps({**parsed, "tampered": True}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return value[:-1] + ("0" if value[-1:] != "0" else "1")


def _table(conn: Connection, name: str) -> Table:
    return Table(name, MetaData(), autoload_with=conn)


def _unique_columns(conn: Connection, name: str) -> set[str]:
    inspector = inspect(conn)
    found = {c for u in inspector.get_unique_constraints(name) for c in u["column_names"]}
    found |= {c for i in inspector.get_indexes(name) if i.get("unique") for c in i["column_names"] if c is not None}
    return found


def _first(conn: Connection, table: Table) -> dict[str, Any]:
    row = conn.execute(select(table).order_by(*table.primary_key.columns).limit(1)).mappings().first()
    assert row is not None, f"table {table.name} is empty in the populated archive"
    return dict(row)


def _key(table: Table, row: dict[str, Any]) -> Any:
    return [c == row[c.name] for c in table.primary_key.columns]


@dataclass
class Case:
    table: str
    op: str  # insert | update | delete
    column: str | None = None

    def __str__(self) -> str:
        return f"{self.table}-{self.op}" + (f"-{self.column}" if self.column else "")


def _columns(table: str) -> list[str]:
    from custody.db.models import Base as Models

    model = Models.metadata.tables[table]
    keys = {c.name for c in model.primary_key.columns}
    columns = [c.name for c in model.columns if c.name not in keys and c.name not in UNSIGNED_COLUMNS.get(table, ())]
    # A table made of its key alone (item_cases) is edited in its last key column.
    return columns or [list(model.primary_key.columns)[-1].name]


CASES = [
    case
    for table in APPEND_ONLY_TABLES
    for case in (
        Case(table, "insert"),
        Case(table, "delete"),
        *(Case(table, "update", column) for column in _columns(table)),
    )
]


def _apply(case: Case, conn: Connection) -> list[str]:
    """Make the edit; returns the names a failure must mention (the table, or the edited row's key)."""
    table = _table(conn, case.table)
    row = _first(conn, table)
    keys = [c.name for c in table.primary_key.columns]
    names = [case.table, *(str(row[k]) for k in keys)]
    if case.op == "delete":
        conn.execute(delete(table).where(*_key(table, row)))
    elif case.op == "update":
        assert case.column is not None
        value = row[case.column]
        if isinstance(value, int) and case.column in _unique_columns(conn, case.table):
            value = (conn.scalar(select(func.max(table.c[case.column]))) or 0) + 1000  # not another row's
        else:
            value = _mutated(value)
        conn.execute(update(table).where(*_key(table, row)).values({case.column: value}))
    else:
        new = dict(row)
        for column in {keys[-1], *_unique_columns(conn, case.table)}:
            if isinstance(row[column], int):
                new[column] = (conn.scalar(select(func.max(table.c[column]))) or 0) + 1000
            else:
                new[column] = _mutated(row[column])
        names += [str(new[k]) for k in keys]
        conn.execute(insert(table).values(new))
    return names


def _mentions(check: dict[str, Any], names: list[str]) -> bool:
    said = f"{check['subject']} {check['detail']}"
    for name in names:
        if name.isdigit():
            if re.search(rf"(?<![\w.]){name}(?![\w.])", said):
                return True
        elif name in said:
            return True
    return False


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_edit_of_every_table_is_a_named_failure(cli: Cli, copy: Path, case: Case) -> None:
    names: list[str] = []
    tamper(copy, lambda conn: names.extend(_apply(case, conn)))
    result = cli("--archive", copy, "verify", "--all", "--json", actor="dave")
    assert "Traceback" not in result.err
    report = result.json()
    if (case.table, case.op) == ("checkpoint_timestamps", "delete"):
        # A deleted token cannot be told from one never fetched (TSA down): the checkpoint is reported
        # untimestamped, never as attested time (custody/catalog_check.py says why).
        (checkpoint_num,) = names[1:]
        warned = [c for c in report["checks"] if c["warning"] and c["check"] == "timestamp"]
        assert any(f"#{checkpoint_num}" in c["detail"] for c in warned), warned
        return
    assert result.code == 1, result.out
    failures = [c for c in report["checks"] if not c["ok"] and c["check"] != "verify-logged"]
    assert failures, f"{case}: verify passed"
    assert any(_mentions(c, names) for c in failures), (case, names, failures)


def test_every_table_is_in_the_matrix() -> None:
    assert {c.table for c in CASES} == set(APPEND_ONLY_TABLES)
    assert {(c.table, c.op) for c in CASES} >= {(t, op) for t in APPEND_ONLY_TABLES for op in ("insert", "delete")}


def test_the_untampered_copy_verifies(cli: Cli, copy: Path) -> None:
    result = cli("--archive", copy, "verify", "--all", "--json", actor="dave")
    assert result.code == 0, [c for c in result.json()["checks"] if not c["ok"]]
    with_rows = {"imports", "imported_records", "imported_events", "imported_keys", "checkpoint_timestamps"}
    engine = create_engine(db_url(copy))
    try:
        with engine.connect() as conn:
            for table in with_rows | {"item_cases"}:
                assert conn.scalar(text(f"SELECT count(*) FROM {table}")), table
    finally:
        engine.dispose()
