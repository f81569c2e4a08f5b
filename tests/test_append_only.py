"""Append-only at the database level: every table refuses UPDATE and DELETE."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import Cli, make_archive
from tests.tamper import TABLES

# One harmless UPDATE per table (a column each table has).
_UPDATES = {
    "actors": "UPDATE actors SET role = 'admin'",
    "items": "UPDATE items SET media_type = 'x/y'",
    "item_cases": "UPDATE item_cases SET case_id = 'other'",
    "events": "UPDATE events SET action = 'nothing'",
    "tree_nodes": "UPDATE tree_nodes SET level = level",
    "checkpoints": "UPDATE checkpoints SET note = ''",
}


@pytest.fixture
def sqlite_filled(cli: Cli, archive: Path, evidence: Path) -> Path:
    cli.ok("ingest", "-r", evidence, "--case", "UA-1")
    return archive / "custody.db"


@pytest.mark.parametrize("table", TABLES)
def test_sqlite_refuses_update(sqlite_filled: Path, table: str) -> None:
    with sqlite3.connect(sqlite_filled) as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(_UPDATES[table])


@pytest.mark.parametrize("table", TABLES)
def test_sqlite_refuses_delete(sqlite_filled: Path, table: str) -> None:
    with sqlite3.connect(sqlite_filled) as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(f"DELETE FROM {table}")


def test_sqlite_tables_are_not_empty_so_the_refusals_mean_something(sqlite_filled: Path) -> None:
    with sqlite3.connect(sqlite_filled) as conn:
        for table in TABLES:
            assert conn.execute(f"select count(*) from {table}").fetchone()[0] > 0, table


@pytest.fixture
def pg_filled(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str, evidence: Path) -> str:
    make_archive(cli, tmp_path / "pg-archive", monkeypatch, db=pg_url)
    cli.ok("ingest", "-r", evidence, "--case", "UA-1")
    return pg_url


@pytest.mark.parametrize(
    "statement", [*_UPDATES.values(), *(f"DELETE FROM {t}" for t in TABLES), *(f"TRUNCATE {t} CASCADE" for t in TABLES)]
)
def test_postgresql_refuses_update_delete_and_truncate(pg_filled: str, statement: str) -> None:
    engine = create_engine(pg_filled)
    try:
        with engine.begin() as conn:
            for table in TABLES:
                assert conn.execute(text(f"select count(*) from {table}")).scalar_one() > 0
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()
