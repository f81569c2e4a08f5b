"""Shared fixtures: real archives in temporary folders, the CLI run in-process, PostgreSQL."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from custody import keys
from custody_cli.main import main

PASSPHRASES = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret", "dave": "dave-secret"}
PG_ADMIN_URL = os.environ.get("CUSTODY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Runs ``custody`` in-process as a given actor, returning exit code and output."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self._capsys = capsys
        self._mp = monkeypatch

    def __call__(
        self, *args: str | Path, actor: str = "alice", passphrase: str | None = None, new_passphrase: str | None = None
    ) -> Result:
        self._capsys.readouterr()
        self._mp.setenv("CUSTODY_ACTOR", actor)
        self._mp.setenv("CUSTODY_PASSPHRASE", passphrase or PASSPHRASES.get(actor, "x"))
        if new_passphrase is not None:
            self._mp.setenv("CUSTODY_NEW_PASSPHRASE", new_passphrase)
        code = main([str(a) for a in args])
        captured = self._capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *args: str | Path, **kw: Any) -> Result:
        result = self(*args, **kw)
        assert result.code == 0, f"custody {' '.join(map(str, args))} failed: {result.err}{result.out}"
        return result


TEST_KDF = keys.KdfCost(n=2**4, r=8, p=1)


@pytest.fixture(autouse=True)
def cheap_keys(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test-only: key files written in this process use a tiny scrypt cost and any passphrase is accepted.

    Production code never lowers custody.keys.KDF or POLICY; tests marked ``production_keys`` keep
    both, to check what ``init`` and ``actor add`` really write. Keys made by child processes that
    import custody afresh always get the production cost.
    """
    if request.node.get_closest_marker("production_keys") is None:
        use_cheap_keys(monkeypatch)


def use_cheap_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test-only key settings (see ``cheap_keys``), also for fixtures wider than one test."""
    monkeypatch.setattr(keys, "KDF", TEST_KDF)
    monkeypatch.setattr(keys, "POLICY", keys.PassphrasePolicy(min_length=1, min_score=0))


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.delenv("CUSTODY_ARCHIVE", raising=False)
    return Cli(capsys, monkeypatch)


def make_archive(cli: Cli, root: Path, monkeypatch: pytest.MonkeyPatch, db: str | None = None) -> Path:
    extra = ["--db", db] if db else []
    cli.ok("init", root, "--admin", "alice", *extra, new_passphrase=PASSPHRASES["alice"])
    monkeypatch.setenv("CUSTODY_ARCHIVE", str(root))
    return root


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


def _pg_available() -> bool:
    try:
        with create_engine(PG_ADMIN_URL).connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not _pg_available():
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
