"""Access is logged before it happens: ``get`` and ``export`` deliver nothing until their event is
committed, and what a killed process leaves behind is removed (and ``export.failed`` logged) by the
next ``get`` or ``export``. Real processes, a real held database lock, a real SIGKILL."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from custody.config import TsaSection, read_config, write_config
from custody.deliveries import JOURNAL_DIR, PRIVATE_DIR
from tests.support.archives import PASSPHRASES, Cli

ROOT = Path(__file__).parents[1]


def _custody(archive: Path, actor: str, *args: str | Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CUSTODY_ARCHIVE": str(archive), "CUSTODY_PASSPHRASE": PASSPHRASES[actor]}
    return subprocess.Popen(
        [sys.executable, "-m", "custody_cli.main", "--as", actor, *map(str, args)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(condition: Callable[[], bool], what: str, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"custody ended ({proc.returncode}) before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def _events(archive: Path, action: str) -> list[tuple[int, str]]:
    with contextlib.closing(sqlite3.connect(archive / "custody.db")) as conn:
        rows = conn.execute("select seq, payload from events where action = ? order by seq", (action,)).fetchall()
    return [(int(seq), str(payload)) for seq, payload in rows]


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.part"))


@pytest.fixture
def stocked(cli: Cli, team: Path, evidence: Path) -> Path:
    cli.ok("ingest", "-r", evidence, actor="bob")
    return team


@contextlib.contextmanager
def _write_lock_held(archive: Path) -> Iterator[sqlite3.Connection]:
    """Another process's write transaction, as an ingest in progress holds it."""
    conn = sqlite3.connect(archive / "custody.db", isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
    finally:
        conn.close()


def test_get_delivers_nothing_while_its_access_event_cannot_commit(
    cli: Cli, stocked: Path, evidence: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / "strike.bin"
    size = (evidence / "strike.bin").stat().st_size
    with _write_lock_held(stocked) as holder:
        proc = _custody(stocked, "dave", "get", "EV-000002", "--out", target, "--purpose", "expert review")
        try:
            _wait_for(lambda: any(p.stat().st_size == size for p in _parts(out)), "the copy was written", proc)
            time.sleep(1.0)  # the copy is complete and checked: only the commit is left
            assert not target.exists(), "bytes were delivered before the access event was committed"
            assert proc.poll() is None and _events(stocked, "access") == []
            holder.execute("ROLLBACK")
            _stdout, err = proc.communicate(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    assert target.read_bytes() == (evidence / "strike.bin").read_bytes()
    assert len(_events(stocked, "access")) == 1
    assert _parts(out) == [] and list((stocked / JOURNAL_DIR).iterdir()) == []


def test_a_killed_get_leaves_a_partial_copy_that_the_next_get_removes(
    cli: Cli, stocked: Path, evidence: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    size = (evidence / "strike.bin").stat().st_size
    with _write_lock_held(stocked):
        proc = _custody(stocked, "dave", "get", "EV-000002", "--out", out / "a.bin", "--purpose", "review")
        try:
            _wait_for(lambda: any(p.stat().st_size == size for p in _parts(out)), "the copy was written", proc)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    assert len(_parts(out)) == 1 and not (out / "a.bin").exists() and _events(stocked, "access") == []
    cli.ok("get", "EV-000001", "--out", tmp_path / "other.txt", "--purpose", "review", actor="dave")
    assert _parts(out) == [] and list((stocked / JOURNAL_DIR).iterdir()) == []


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A time-stamp authority that accepts the connection and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/tsr"
    finally:
        server.close()


def _killed_after_its_event(archive: Path, black_hole: str, out: Path) -> int:
    """Run ``custody export`` in its own process and SIGKILL it once its export event is committed.

    The archive's TSA is made to hang, so the process waits (for the checkpoint's or the seal's
    token) after the commit, with the bundle half-written; returns the export event's seq.
    """
    plain = read_config(archive)
    write_config(dataclasses.replace(plain, tsa=TsaSection(url=black_hole, timeout=120)))
    proc = _custody(archive, "bob", "export", "EV-000001", "EV-000002", "--out", out, "--purpose", "court")
    try:
        _wait_for(lambda: bool(_events(archive, "export")), "the export event was committed", proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        write_config(plain)
    assert proc.returncode == -signal.SIGKILL and not out.exists(), "the export finished before it was killed"
    ((seq, _payload),) = _events(archive, "export")
    return seq


def test_a_killed_export_leaves_an_export_event_and_a_plaintext_partial_bundle(
    stocked: Path, black_hole: str, tmp_path: Path, evidence: Path
) -> None:
    """The situation the next run has to clean up (as it was before, with nobody cleaning up)."""
    _killed_after_its_event(stocked, black_hole, tmp_path / "bundle.zip")
    (part,) = _parts(tmp_path)
    assert (evidence / "strike.bin").read_bytes() in part.read_bytes()  # evidence, in the clear
    assert not (tmp_path / "bundle.zip").exists() and _events(stocked, "export.failed") == []


def test_the_next_export_removes_the_partial_bundle_and_logs_export_failed(
    cli: Cli, stocked: Path, black_hole: str, tmp_path: Path
) -> None:
    seq = _killed_after_its_event(stocked, black_hole, tmp_path / "bundle.zip")
    result = cli.ok("export", "EV-000003", "--out", tmp_path / "next.zip", "--purpose", "court", actor="bob")
    assert "export.failed was logged" in result.err
    assert _parts(tmp_path) == [] and list((stocked / JOURNAL_DIR).iterdir()) == []
    failed = [e for e in cli.ok("log", "--json").json() if e["action"] == "export.failed"]
    assert len(failed) == 1 and failed[0]["payload"]["export_seq"] == seq
    assert failed[0]["payload"]["items"] == ["EV-000001", "EV-000002"]
    history = [e["action"] for e in cli.ok("log", "EV-000001", "--json").json()]
    assert history[-2:] == ["export", "export.failed"]
    cli.ok("verify", "--all")
    # A second run finds nothing left to do.
    cli.ok("get", "EV-000001", "--out", tmp_path / "copy.txt", "--purpose", "review", actor="bob")
    assert len(_events(stocked, "export.failed")) == 1


def test_a_get_by_someone_who_may_not_export_removes_the_partial_bundle_and_leaves_the_logging(
    cli: Cli, stocked: Path, black_hole: str, tmp_path: Path
) -> None:
    _killed_after_its_event(stocked, black_hole, tmp_path / "bundle.zip")
    cli.ok("get", "EV-000001", "--out", tmp_path / "copy.txt", "--purpose", "review", actor="dave")
    assert _parts(tmp_path) == [] and _events(stocked, "export.failed") == []
    cli.ok("export", "EV-000003", "--out", tmp_path / "next.zip", "--purpose", "court", actor="bob")
    assert len(_events(stocked, "export.failed")) == 1 and list((stocked / JOURNAL_DIR).iterdir()) == []


def test_an_export_that_fails_after_its_event_logs_export_failed_at_once(
    cli: Cli, stocked: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custody.bundle import writer

    def broken(*_args: object, **_kw: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(writer, "_timestamp_seal", broken)
        result = cli("export", "EV-000001", "--out", tmp_path / "b.zip", "--purpose", "court", actor="bob")
    assert result.code == 2 and "No space left on device" in result.err and "nothing was delivered" in result.err
    assert len(_events(stocked, "export.failed")) == 1 and _parts(tmp_path) == []
    cli.ok("export", "EV-000001", "--out", tmp_path / "c.zip", "--purpose", "court", actor="bob")
    assert len(_events(stocked, "export.failed")) == 1 and list((stocked / JOURNAL_DIR).iterdir()) == []


def test_an_export_interrupted_after_its_event_logs_why_it_failed(
    cli: Cli, stocked: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C carries no message: the signed export.failed must still say what happened, not an empty reason."""
    from custody.bundle import writer

    def interrupted(*_args: object, **_kw: object) -> None:
        raise KeyboardInterrupt  # as Ctrl-C would, after the export event was logged

    with monkeypatch.context() as patched:
        patched.setattr(writer, "_timestamp_seal", interrupted)
        result = cli("export", "EV-000001", "--out", tmp_path / "b.zip", "--purpose", "court", actor="bob")
    assert result.code == 130 and _parts(tmp_path) == [] and not (tmp_path / "b.zip").exists()
    ((_seq, payload),) = _events(stocked, "export.failed")
    assert "interrupted" in json.loads(payload)["reason"]


def test_get_on_postgresql_delivers_nothing_while_the_append_lock_is_held(
    cli: Cli, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, evidence: Path
) -> None:
    from sqlalchemy import create_engine, text

    from custody.db.engine import _PG_APPEND_LOCK
    from tests.support.archives import make_archive

    archive = make_archive(cli, tmp_path / "archive", monkeypatch, pg_url)
    cli.ok("ingest", evidence / "strike.bin")
    target = tmp_path / "copy.bin"
    engine = create_engine(pg_url)
    try:
        with engine.connect() as holder:
            holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_APPEND_LOCK})
            proc = _custody(archive, "alice", "get", "EV-000001", "--out", target, "--purpose", "review")
            try:
                size = (evidence / "strike.bin").stat().st_size
                _wait_for(lambda: any(p.stat().st_size == size for p in _parts(tmp_path)), "the copy", proc)
                time.sleep(1.0)
                assert not target.exists() and proc.poll() is None
                holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_APPEND_LOCK})
                holder.commit()
                _stdout, err = proc.communicate(timeout=60)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
    finally:
        engine.dispose()
    assert proc.returncode == 0, err
    assert target.read_bytes() == (evidence / "strike.bin").read_bytes()
    assert [e["action"] for e in cli.ok("log", "EV-000001", "--json").json()] == ["ingest", "access"]


def test_a_killed_import_leaves_a_private_copy_that_the_next_run_removes(
    cli: Cli, stocked: Path, tmp_path: Path
) -> None:

    bundle = tmp_path / "b.zip"
    cli.ok("export", "EV-000002", "--out", bundle, "--purpose", "partner", actor="bob")
    receiver = tmp_path / "receiver"
    cli.ok("init", receiver, "--admin", "carol", new_passphrase=PASSPHRASES["carol"])
    private = receiver / PRIVATE_DIR
    with _write_lock_held(receiver):
        proc = _custody(receiver, "carol", "import", bundle)
        try:
            copies = lambda: list(private.glob("*/*/bundle.zip"))  # noqa: E731
            _wait_for(lambda: bool(copies()) and copies()[0].stat().st_size == bundle.stat().st_size, "copy", proc)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    assert copies(), "the killed import left no private copy (nothing to clean up)"
    cli.ok("--archive", receiver, "import", bundle, actor="carol")
    assert list(private.iterdir()) == [] and list((receiver / JOURNAL_DIR).iterdir()) == []
    cli.ok("--archive", receiver, "verify", "--all", actor="carol")


@pytest.mark.parametrize("kind", ["get", "export", "import"])
def test_a_journal_entry_naming_another_file_removes_nothing(
    cli: Cli, stocked: Path, tmp_path: Path, kind: str
) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "statement.txt").write_text("keep me")
    (stocked / JOURNAL_DIR).mkdir(exist_ok=True)
    entry = {"kind": kind, "pid": 1, "temp": str(precious / "statement.txt"), "out": str(precious / "x.zip")}
    for name, temp in (("a", precious / "statement.txt"), ("b", precious)):
        (stocked / JOURNAL_DIR / f"{kind}-1-{name}.json").write_text(json.dumps({**entry, "temp": str(temp)}))
    cli.ok("get", "EV-000001", "--out", tmp_path / "copy.txt", "--purpose", "review", actor="bob")
    assert (precious / "statement.txt").read_text() == "keep me"
    assert list((stocked / JOURNAL_DIR).iterdir()) == []
