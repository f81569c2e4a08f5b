"""Append-only at the database level: every table in APPEND_ONLY_TABLES refuses UPDATE and DELETE (and TRUNCATE
on PostgreSQL), on a populated archive whose every such table holds rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, func, inspect, select, table, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from custody.db.models import APPEND_ONLY_TABLES
from tests.support.populated import Base, base, db_url, tsa

__all__ = ["base", "tsa"]  # module-scoped fixtures: one populated archive per database


@pytest.fixture
def engine(base: Base) -> Iterator[Engine]:
    # Refused statements change nothing, so the one populated archive of the module serves every test.
    engine = create_engine(db_url(base.folder))
    yield engine
    engine.dispose()


def test_every_append_only_table_holds_rows_so_the_refusals_mean_something(engine: Engine) -> None:
    with engine.connect() as conn:
        empty = [name for name in APPEND_ONLY_TABLES if not conn.scalar(select(func.count()).select_from(table(name)))]
    assert empty == []


@pytest.mark.parametrize("name", APPEND_ONLY_TABLES)
def test_update_is_refused(engine: Engine, name: str) -> None:
    with engine.connect() as conn:
        column = inspect(conn).get_columns(name)[0]["name"]
    with pytest.raises(DBAPIError, match=f"table {name} is append-only"), engine.begin() as conn:
        conn.execute(text(f"UPDATE {name} SET {column} = {column}"))


@pytest.mark.parametrize("name", APPEND_ONLY_TABLES)
def test_delete_is_refused(engine: Engine, name: str) -> None:
    with pytest.raises(DBAPIError, match=f"table {name} is append-only"), engine.begin() as conn:
        conn.execute(text(f"DELETE FROM {name}"))


@pytest.mark.parametrize("name", APPEND_ONLY_TABLES)
def test_truncate_is_refused_on_postgresql(base: Base, engine: Engine, name: str) -> None:
    if base.kind != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    with pytest.raises(DBAPIError, match=f"table {name} is append-only"), engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {name} CASCADE"))
