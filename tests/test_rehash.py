"""The early re-hash of a local store, which `verify --all` starts before opening the catalog."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from custody.forked import can_fork
from custody.hashing import digest_stream
from custody.rehash import EarlyRehash, early_rehash, start_rehash
from tests.conftest import Cli

# Both ways the re-hash runs: a forked child process (where the platform can fork) and threads.
KINDS = [pytest.param(True, id="child-process"), pytest.param(False, id="threads")]
if not hasattr(os, "fork"):
    KINDS = KINDS[1:]


@pytest.fixture
def filled(cli: Cli, archive: Path, evidence: Path) -> Path:
    cli.ok("ingest", "-r", evidence)
    return archive


def _rehash_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("custody-rehash")]


def _reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@contextmanager
def started(archive: Path, in_child: bool) -> Iterator[EarlyRehash]:
    early = start_rehash(str(archive), in_child=in_child)
    assert early is not None and early.in_child == in_child
    try:
        yield early
    finally:
        early.close()


@pytest.mark.parametrize("in_child", KINDS)
def test_early_digests_equal_the_recorded_ones(cli: Cli, filled: Path, in_child: bool) -> None:
    items = cli.ok("list", "--json").json()
    with started(filled, in_child) as early:
        for item in items:
            got = early.result(item["sha256"])
            assert got is not None
            assert (got.sha256, got.blake3, got.size) == (item["sha256"], item["blake3"], item["size"])


@pytest.mark.parametrize("in_child", KINDS)
def test_a_blob_stored_after_the_start_is_left_to_the_verifier(
    cli: Cli, filled: Path, tmp_path: Path, in_child: bool
) -> None:
    with started(filled, in_child) as early:
        late = tmp_path / "late.txt"
        late.write_text("ingested while the re-hash ran\n")
        sha = cli.ok("ingest", late, "--json").json()[0]["sha256"]
        assert early.result(sha) is None


@pytest.mark.parametrize("in_child", KINDS)
def test_a_changed_blob_gives_its_real_digests(cli: Cli, filled: Path, in_child: bool) -> None:
    sha = cli.ok("list", "--json").json()[1]["sha256"]
    blob = filled / "store" / "sha256" / sha[:2] / sha[2:4] / sha
    blob.chmod(0o644)
    blob.write_bytes(b"replaced")
    with started(filled, in_child) as early:
        got = early.result(sha)
    with blob.open("rb") as fh:
        assert got == digest_stream(fh)
    assert got is not None and got.sha256 != sha


def test_a_good_copy_outside_the_blob_path_does_not_hide_a_tampered_blob(cli: Cli, filled: Path) -> None:
    item = cli.ok("list", "--json").json()[1]
    sha = item["sha256"]
    blob = filled / "store" / "sha256" / sha[:2] / sha[2:4] / sha
    stray = filled / "store" / "sha256" / "zz" / "zz" / sha
    stray.parent.mkdir(parents=True)
    stray.write_bytes(blob.read_bytes())
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")
    result = cli("verify", "--all", "--json")
    assert result.code == 1
    failed = [c for c in result.json()["checks"] if not c["ok"]]
    assert any(c["check"] == "blob" and c["subject"] == item["item_id"] for c in failed)


def test_nothing_starts_without_an_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CUSTODY_ARCHIVE", raising=False)
    assert start_rehash(None) is None
    assert start_rehash(str(tmp_path / "no-such-archive")) is None


def test_nothing_starts_when_disabled(filled: Path) -> None:
    with early_rehash(str(filled), enabled=False) as early:
        assert early is None


def test_workers_are_gone_when_the_block_ends(filled: Path) -> None:
    with early_rehash(str(filled)) as early:
        assert early is not None
        pid = early.pid
    assert _rehash_threads() == []
    assert pid is None or _reaped(pid)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_process_is_used_only_while_no_other_thread_runs(filled: Path) -> None:
    expected = can_fork()
    with early_rehash(str(filled)) as early:
        assert early is not None and early.in_child == expected
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with early_rehash(str(filled)) as early:
            assert early is not None and not early.in_child
    finally:
        stop.set()
        other.join()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_killed_child_leaves_every_blob_to_the_verifier(cli: Cli, filled: Path) -> None:
    items = cli.ok("list", "--json").json()
    with started(filled, in_child=True) as early:
        pid = early.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        for item in items:
            got = early.result(item["sha256"])
            # Digests that arrived before the kill are real ones; after it, the verifier reads the blob.
            assert got is None or (got.sha256, got.blake3, got.size) == (item["sha256"], item["blake3"], item["size"])
    assert _reaped(pid)
    assert cli("verify", "--all").code == 0


def test_a_refused_verification_stops_the_rehash(cli: Cli, filled: Path) -> None:
    cli.ok("actor", "add", "carol", "--role", "analyst", new_passphrase="carol passphrase")
    children_before = _children()
    result = cli("verify", "--all", actor="carol", passphrase="carol passphrase")
    assert result.code != 0 and "verify" in result.err
    assert _rehash_threads() == []
    assert _children() == children_before


def _children() -> set[int]:
    # Linux lists a process's children in /proc; elsewhere this check has nothing to compare.
    pid = os.getpid()
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return set(map(int, path.read_text().split())) if path.exists() else set()
