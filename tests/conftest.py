"""Shared fixtures: real archives in temporary folders, the CLI run in-process, PostgreSQL."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.archives import (
    PASSPHRASES,
    PG_ADMIN_URL,
    Cli,
    make_archive,
    pg_available,
    use_cheap_keys,
)


@pytest.fixture(autouse=True)
def cheap_keys(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test-only: key files written in this process use a tiny scrypt cost and any passphrase is accepted.

    Production code never lowers custody.keys.KDF or POLICY; tests marked ``production_keys`` keep
    both, to check what ``init`` and ``actor add`` really write. Keys made by child processes that
    import custody afresh always get the production cost.
    """
    if request.node.get_closest_marker("production_keys") is None:
        use_cheap_keys(monkeypatch)




@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.delenv("CUSTODY_ARCHIVE", raising=False)
    return Cli(capsys, monkeypatch)




@pytest.fixture
def archive(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh embedded (SQLite) archive with admin alice, used via CUSTODY_ARCHIVE."""
    return make_archive(cli, tmp_path / "archive", monkeypatch)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_archive(request: pytest.FixtureRequest, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The same fresh archive on SQLite, then on PostgreSQL (which checks foreign keys at each insert)."""
    db = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    return make_archive(cli, tmp_path / "archive", monkeypatch, db)


@pytest.fixture
def team(cli: Cli, archive: Path) -> Path:
    """The archive plus bob (archivist), carol (analyst) and dave (reviewer)."""
    for name, role in (("bob", "archivist"), ("carol", "analyst"), ("dave", "reviewer")):
        cli.ok("actor", "add", name, "--role", role, new_passphrase=PASSPHRASES[name])
    return archive


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    """A folder of small real files."""
    folder = tmp_path / "evidence"
    folder.mkdir()
    (folder / "transcript.txt").write_text("Witness statement, 28 February: two explosions at 14:03.\n")
    (folder / "strike.bin").write_bytes(os.urandom(200_000))
    (folder / "empty.dat").write_bytes(b"")
    return folder




@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A short private XDG_RUNTIME_DIR for the unlock agent (Unix socket paths are limited to ~100 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="cr-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
        pytest.skip("PostgreSQL not reachable")
    name = f"custody_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
