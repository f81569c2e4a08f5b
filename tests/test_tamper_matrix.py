"""The tamper matrix: for every append-only table, an inserted, updated or deleted row is a named failure.

One populated archive is built per database (items in a case, an acquisition, an annotation, an import
from a second archive, timestamped checkpoints) and copied for each case: SQLite by copying the folder,
PostgreSQL with CREATE DATABASE ... TEMPLATE. The guards are bypassed the way an insider would
(SQLite: triggers dropped, then put back; PostgreSQL: session_replication_role = replica).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, create_engine, delete, func, insert, inspect, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.schema import MetaData

from cli.main import main
from custody.catalog_check import UNSIGNED_COLUMNS
from custody.db.models import APPEND_ONLY_TABLES
from tests.conftest import PASSPHRASES, PG_ADMIN_URL, Cli, _pg_available
from tests.tsa_server import TsaServer, make_pki


def _custody(*args: str | Path, actor: str = "alice", new_passphrase: str | None = None) -> str:
    """Run the CLI in-process outside a test's own fixtures (module-scoped building)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CUSTODY_ARCHIVE", raising=False)
        mp.setenv("CUSTODY_ACTOR", actor)
        mp.setenv("CUSTODY_PASSPHRASE", PASSPHRASES[actor])
        if new_passphrase is not None:
            mp.setenv("CUSTODY_NEW_PASSPHRASE", new_passphrase)
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main([str(a) for a in args])
    assert code == 0, f"custody {args}: {err.getvalue()}{out.getvalue()}"
    return out.getvalue()


def _populate(root: Path, work: Path, db: str | None, tsa: TsaServer, ca: Path) -> None:
    """Every kind of row: actors, items in cases, an acquisition, an annotation, an import, tokens."""
    extra = ["--db", db] if db else []
    _custody("init", root, "--admin", "alice", "--tsa-url", tsa.url, "--tsa-ca", ca, *extra,
             new_passphrase=PASSPHRASES["alice"])  # fmt: skip
    for name, role in (("bob", "archivist"), ("carol", "analyst"), ("dave", "reviewer")):
        _custody("--archive", root, "actor", "add", name, "--role", role, new_passphrase=PASSPHRASES[name])
    evidence = work / "evidence"
    evidence.mkdir()
    (evidence / "statement.txt").write_text("Witness statement: two explosions at 14:03.\n")
    (evidence / "photo.bin").write_bytes(bytes(range(256)) * 40)
    _custody("--archive", root, "ingest", "-r", evidence, "--case", "UA-1", actor="bob")
    again = work / "again"
    again.mkdir()
    (again / "same-photo.bin").write_bytes(bytes(range(256)) * 40)  # the same bytes: an acquisition
    _custody("--archive", root, "ingest", again / "same-photo.bin", "--case", "UA-2", actor="bob")
    _custody("--archive", root, "annotate", "EV-000001", "Matches the crater survey", "--tag", "ok", actor="carol")
    partner = work / "partner"
    _custody("init", partner, "--admin", "alice", new_passphrase=PASSPHRASES["alice"])
    sent = work / "sent.txt"
    sent.write_text("A partner's video log.\n")
    _custody("--archive", partner, "ingest", sent, "--case", "UA-1")
    bundle = work / "partner.zip"
    _custody("--archive", partner, "export", "EV-000001", "--out", bundle, "--purpose", "to the partner")
    _custody("--archive", root, "import", bundle)


@dataclass
class Base:
    kind: str  # "sqlite" or "postgresql"
    folder: Path
    db_name: str | None  # PostgreSQL template database


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TsaServer, Path]]:
    pki = make_pki(tmp_path_factory.mktemp("pki"), "Matrix")
    server = TsaServer(pki)
    server.start()
    yield server, Path(pki.root_pem)
    server.stop()


def _admin_engine() -> Any:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def _drop_database(name: str) -> None:
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    engine.dispose()


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def base(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tsa: tuple[TsaServer, Path]
) -> Iterator[Base]:
    work = tmp_path_factory.mktemp(f"matrix-{request.param}")
    if request.param == "sqlite":
        _populate(work / "archive", work, None, *tsa)
        yield Base("sqlite", work / "archive", None)
        return
    if not _pg_available():
        pytest.skip("PostgreSQL not reachable")
    name = f"custody_matrix_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    try:
        _populate(work / "archive", work, _pg_url(name), *tsa)
        yield Base("postgresql", work / "archive", name)
    finally:
        _drop_database(name)


@pytest.fixture
def copy(base: Base, tmp_path: Path) -> Iterator[Path]:
    """A fresh copy of the populated archive, for one case."""
    folder = tmp_path / "archive"
    shutil.copytree(base.folder, folder, symlinks=True)
    if base.db_name is None:
        yield folder
        return
    name = f"custody_case_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": base.db_name}
        )
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{base.db_name}"'))
    engine.dispose()
    config = folder / "custody.toml"
    config.write_text(config.read_text().replace(base.db_name, name))
    try:
        yield folder
    finally:
        _drop_database(name)


def _db_url(folder: Path) -> str:
    from custody.config import read_config

    return read_config(folder).resolved_db_url()


def tamper(folder: Path, change: Callable[[Connection], None]) -> None:
    """Run ``change`` with the append-only guards bypassed, leaving the guards in place afterwards."""
    engine = create_engine(_db_url(folder))
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                change(conn)
                return
            triggers = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
            for name, _sql in triggers:
                conn.execute(text(f"DROP TRIGGER {name}"))
            change(conn)
            for _name, definition in triggers:
                conn.execute(text(definition))
    finally:
        engine.dispose()


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
    found |= {c for i in inspector.get_indexes(name) if i.get("unique") for c in i["column_names"]}
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
    engine = create_engine(_db_url(copy))
    try:
        with engine.connect() as conn:
            for table in with_rows | {"item_cases"}:
                assert conn.scalar(text(f"SELECT count(*) FROM {table}")), table
    finally:
        engine.dispose()
