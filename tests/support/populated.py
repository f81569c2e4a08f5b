"""One populated archive per database (items in cases, an acquisition, an annotation, an import, tokens),
built once per module and copied for each test: SQLite by copying the folder, PostgreSQL with
CREATE DATABASE ... TEMPLATE. ``tamper`` edits a copy with the append-only guards bypassed."""

from __future__ import annotations

import io
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from custody_cli.main import main
from tests.support.archives import PASSPHRASES, PG_ADMIN_URL, pg_available, use_cheap_keys
from tests.support.tsa_server import TsaServer, make_pki


def _custody(*args: str | Path, actor: str = "alice", new_passphrase: str | None = None) -> str:
    """Run the CLI in-process outside a test's own fixtures (module-scoped building)."""
    with pytest.MonkeyPatch.context() as mp:
        use_cheap_keys(mp)
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
    if not pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable; .ci/run starts it")
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


def db_url(folder: Path) -> str:
    from custody.config import read_config

    return read_config(folder).resolved_db_url()


def tamper(folder: Path, change: Callable[[Connection], object]) -> None:
    """Run ``change`` with the append-only guards bypassed, leaving the guards in place afterwards."""
    engine = create_engine(db_url(folder))
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
