"""The early re-hash of a local store, which `verify --all` starts before opening the catalog."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import blake3
import pytest

import custody.forked
import custody.rehash
from custody.hashing import digest_stream
from custody.rehash import EarlyRehash, early_rehash, start_rehash
from tests.support.archives import Cli
from tests.support.processes import children, reaped
from tests.support.tamper import FifoFeeder

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


@pytest.mark.parametrize("in_child", KINDS)
def test_a_blob_that_cannot_be_read_is_a_store_error_naming_it(tmp_path: Path, in_child: bool) -> None:
    from custody.errors import StoreError
    from custody.forked import ForkedWorkers
    from custody.rehash import _hash_blob

    # Gone between the listing and the read, as a blob that vanished or cannot be opened.
    digest = "ab" * 32
    blob = (digest, tmp_path / "sha256" / "ab" / "ab" / digest)
    if in_child:
        workers: ForkedWorkers[tuple[str, Path], object] = ForkedWorkers(_hash_blob, 1)
        try:
            (future,) = workers.submit([blob])
            workers.wait([future], lambda _n: None)
        finally:
            workers.close(stop=False)
        exc = future.exception()
    else:
        with pytest.raises(StoreError) as raised:
            _hash_blob(blob, lambda _n: None, lambda: None)
        exc = raised.value
    assert isinstance(exc, StoreError)
    assert str(exc) == f"cannot read blob {digest}: No such file or directory"


def test_a_fifo_or_link_put_in_place_of_a_blob_after_the_listing_is_not_read_as_it(tmp_path: Path) -> None:
    """The early re-hash lists the blobs first and reads them later: what was swapped in meanwhile is refused,
    and a FIFO (fed the genuine bytes here; unfed, it would stall the read for ever) is not read at all."""
    from custody.errors import StoreError
    from custody.rehash import _hash_blob

    genuine = b"the genuine bytes"
    digest = hashlib.sha256(genuine).hexdigest()
    good_copy = tmp_path / "copy"
    good_copy.write_bytes(genuine)
    linked = tmp_path / "linked"
    linked.symlink_to(good_copy)
    with pytest.raises(StoreError, match=f"cannot read blob {digest}"):
        _hash_blob((digest, linked), lambda _n: None, lambda: None)
    with FifoFeeder(tmp_path / "fifo", genuine), pytest.raises(StoreError, match="not a regular file"):
        _hash_blob((digest, tmp_path / "fifo"), lambda _n: None, lambda: None)


@pytest.mark.parametrize("in_child", KINDS)
def test_a_good_copy_outside_the_blob_path_is_never_taken_for_the_blob(cli: Cli, filled: Path, in_child: bool) -> None:
    sha = cli.ok("list", "--json").json()[1]["sha256"]
    blob = filled / "store" / "sha256" / sha[:2] / sha[2:4] / sha
    for stray in (filled / "store" / "sha256" / "zz" / "zz" / sha, blob.parent / "zz" / sha):
        stray.parent.mkdir(parents=True)
        stray.write_bytes(blob.read_bytes())
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")
    with started(filled, in_child) as early:
        got = early.result(sha)
    assert got is not None and got.sha256 == hashlib.sha256(b"tampered").hexdigest()


@pytest.mark.parametrize("in_child", KINDS)
def test_stray_files_in_the_store_are_ignored(cli: Cli, filled: Path, in_child: bool) -> None:
    sha = cli.ok("list", "--json").json()[0]["sha256"]
    folder = filled / "store" / "sha256" / sha[:2] / sha[2:4]
    # 64 characters that start like a digest of this folder, but are not one.
    odd = [sha[:4] + " copy of " + "x" * 51, sha[:4] + "\n" + "R " * 29 + "a"]
    for name in odd:
        (folder / name).write_bytes(b"not evidence")
    with started(filled, in_child) as early:
        assert all(early.result(name) is None for name in odd)
        assert early.result(sha) is not None
    assert cli("verify", "--all").code == 0


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


@pytest.mark.parametrize("in_child", KINDS)
def test_workers_are_gone_when_the_block_ends(filled: Path, in_child: bool) -> None:
    with started(filled, in_child) as early:
        pid = early.pid
    assert _rehash_threads() == []
    assert (pid is not None) == in_child
    assert pid is None or reaped(pid)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_process_is_used_where_forking_is_safe(filled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(custody.rehash, "can_fork", lambda: True)
    with early_rehash(str(filled)) as early:
        assert early is not None and early.in_child


def test_threads_are_used_while_another_thread_runs(filled: Path) -> None:
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
def test_threads_take_over_when_no_process_can_be_started(
    cli: Cli, filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr("custody.forked.os.fork", no_fork)
    sha = cli.ok("list", "--json").json()[0]["sha256"]
    fds_before = len(os.listdir("/proc/self/fd"))
    early = start_rehash(str(filled), in_child=True)
    assert early is not None
    try:
        assert not early.in_child
        got = early.result(sha)
        assert got is not None and got.sha256 == sha
    finally:
        early.close()
    assert len(os.listdir("/proc/self/fd")) == fds_before  # the pipes made for the child are closed


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
    assert reaped(pid)
    assert cli("verify", "--all").code == 0


def test_a_refused_verification_stops_the_rehash(cli: Cli, filled: Path) -> None:
    cli.ok("actor", "add", "carol", "--role", "analyst", new_passphrase="carol passphrase")
    children_before = children()
    result = cli("verify", "--all", actor="carol", passphrase="carol passphrase")
    assert result.code != 0 and "verify" in result.err
    assert _rehash_threads() == []
    assert children() == children_before



@pytest.mark.parametrize("in_child", KINDS)
def test_blobs_of_every_size_get_their_own_digests_though_small_ones_are_hashed_together(
    filled: Path, in_child: bool
) -> None:
    from custody.rehash import _GROUP_BYTES

    contents = [b"", b"x", os.urandom(1000), os.urandom(_GROUP_BYTES // 2), os.urandom(_GROUP_BYTES + 1)]
    for data in contents:
        sha = hashlib.sha256(data).hexdigest()
        blob = filled / "store" / "sha256" / sha[:2] / sha[2:4] / sha
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
    with started(filled, in_child) as early:
        for data in contents:
            got = early.result(hashlib.sha256(data).hexdigest())
            assert got is not None and (got.sha256, got.size) == (hashlib.sha256(data).hexdigest(), len(data))
            assert got.blake3 == blake3.blake3(data).hexdigest()


@pytest.mark.parametrize("in_child", KINDS)
def test_a_blob_of_a_group_that_cannot_be_read_fails_alone(tmp_path: Path, in_child: bool) -> None:
    """Small blobs go several to a task: one that cannot be read is its own StoreError, its neighbours are given."""
    from custody.errors import StoreError
    from custody.rehash import _InChild, _InThreads

    good = [(hashlib.sha256(d).hexdigest(), d) for d in (b"first", b"third")]
    paths = []
    for sha, data in good:
        (tmp_path / sha).write_bytes(data)
        paths.append((sha, tmp_path / sha))
    gone = ("ab" * 32, tmp_path / ("ab" * 32))
    early = (_InChild if in_child else _InThreads)([[paths[0], gone, paths[1]]], 1)
    try:
        with pytest.raises(StoreError, match=f"cannot read blob {gone[0]}: No such file or directory"):
            early.result(gone[0])
        for sha, _data in good:
            got = early.result(sha)
            assert got is not None and got.sha256 == sha
    finally:
        early.close()


@pytest.mark.parametrize("in_child", KINDS)
def test_a_fault_of_the_rehash_itself_leaves_the_blob_to_the_verifier(tmp_path: Path, in_child: bool) -> None:
    """Only a blob that cannot be read is a StoreError; any other failure of a re-hash task (here a path the
    system refuses outright; a bug, or memory running out, would do the same) means the verifier must read the
    blob itself, never a traceback out of verify."""
    from custody.rehash import _InChild, _InThreads

    digest = "ab" * 32
    early = (_InChild if in_child else _InThreads)([[(digest, tmp_path / "a\0b")]], 1)
    try:
        assert early.result(digest) is None
    finally:
        early.close()


def test_digests_of_another_store_than_the_one_opened_are_not_used(cli: Cli, filled: Path, tmp_path: Path) -> None:
    """custody.toml is read twice: by the early re-hash, then by the archive. An insider who points it at a good copy
    of the store for the first read only must not have that copy's digests vouch for the tampered store."""
    import shutil

    from custody.archive import Archive
    from custody.verify import verify_archive
    from tests.support.archives import PASSPHRASES

    sha = cli.ok("list", "--json").json()[1]["sha256"]
    good_copy = tmp_path / "good-copy"
    shutil.copytree(filled / "store", good_copy)
    blob = filled / "store" / "sha256" / sha[:2] / sha[2:4] / sha
    blob.chmod(0o600)
    blob.write_bytes(b"tampered")
    blob.chmod(0o400)
    config = filled / "custody.toml"
    genuine = config.read_text()
    assert 'url = "file:store"' in genuine
    config.write_text(genuine.replace('url = "file:store"', f'url = "file:{good_copy}"'))
    early = start_rehash(str(filled))
    config.write_text(genuine)
    assert early is not None
    try:
        acting = Archive.open(filled).act("alice", lambda _name: PASSPHRASES["alice"])
        report = verify_archive(acting, None, early=early)
    finally:
        early.close()
    assert not report.ok
    assert any(c.check == "blob" and not c.ok for c in report.checks)
    # The same store, opened as configured: the early digests are taken (the two name the very same folder).
    with started(filled, in_child=False) as same:
        assert same.root == getattr(Archive.open(filled).store, "root", None)
