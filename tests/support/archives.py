"""Real archives for tests: the CLI run in-process as an actor, archive creation, test key settings, PostgreSQL."""

from __future__ import annotations

import json
import os
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
        self,
        *args: str | Path | int,
        actor: str = "alice",
        passphrase: str | None = None,
        new_passphrase: str | None = None,
    ) -> Result:
        self._capsys.readouterr()
        self._mp.setenv("CUSTODY_ACTOR", actor)
        self._mp.setenv("CUSTODY_PASSPHRASE", passphrase or PASSPHRASES.get(actor, "x"))
        if new_passphrase is not None:
            self._mp.setenv("CUSTODY_NEW_PASSPHRASE", new_passphrase)
        code = main([str(a) for a in args])
        captured = self._capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *args: str | Path | int, **kw: Any) -> Result:
        result = self(*args, **kw)
        assert result.code == 0, f"custody {' '.join(map(str, args))} failed: {result.err}{result.out}"
        return result


TEST_KDF = keys.KdfCost(n=2**4, r=8, p=1)


def use_cheap_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test-only key settings (see ``cheap_keys``), also for fixtures wider than one test."""
    monkeypatch.setattr(keys, "KDF", TEST_KDF)
    monkeypatch.setattr(keys, "POLICY", keys.PassphrasePolicy(min_length=1, min_score=0))


def make_archive(cli: Cli, root: Path, monkeypatch: pytest.MonkeyPatch, db: str | None = None) -> Path:
    extra = ["--db", db] if db else []
    cli.ok("init", root, "--admin", "alice", *extra, new_passphrase=PASSPHRASES["alice"])
    monkeypatch.setenv("CUSTODY_ARCHIVE", str(root))
    return root


def pg_available() -> bool:
    try:
        with create_engine(PG_ADMIN_URL).connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False
