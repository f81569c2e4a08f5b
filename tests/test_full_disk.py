"""Full disks, on a small tmpfs each test mounts (CI runs as root; elsewhere without root the tests skip)."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from custody import ingest as ingest_module
from custody.ingest import IngestOptions
from tests.support.archives import PASSPHRASES, Cli


def _mount(folder: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("mounting a tmpfs needs root (CI runs these as root)")
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    yield from _mount(tmp_path / "small", "8m")


@pytest.fixture
def one_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are stored one after another, in order, so which one meets the full disk is known.

    The CLI's ingest runs with the library's default options: the test changes that default.
    """
    defaults = ingest_module.ingest.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "options", IngestOptions(store_workers=1, store_in_child=False))


def _fill(folder: Path, leave: int = 0) -> Path:
    """Fill the file system of ``folder`` until ``leave`` bytes (or nothing) remain free."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            stat = os.statvfs(folder)
            free = stat.f_bavail * stat.f_frsize
            if free <= leave:
                break
            try:
                os.write(fd, chunk[: max(4096, min(len(chunk), free - leave))])
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    finally:
        os.close(fd)
    return filler


def _file(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    path.write_bytes(os.urandom(size))
    return path


@pytest.fixture
def full_store(
    cli: Cli, small_fs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_worker: None
) -> tuple[Path, list[Path]]:
    """An archive on the small tmpfs, after an ingest that stored two files and then ran out of space."""
    root = small_fs / "archive"
    cli.ok("init", root, "--admin", "alice", new_passphrase=PASSPHRASES["alice"])
    monkeypatch.setenv("CUSTODY_ARCHIVE", str(root))
    src = tmp_path / "src"
    src.mkdir()
    files = [_file(src, "a.bin", 2_000_000), _file(src, "b.bin", 2_000_000), _file(src, "c.bin", 6_000_000)]
    result = cli("ingest", *files)
    assert result.code == 2, result.out + result.err
    return root, files


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_error_says_what_was_stored_and_what_was_not(cli: Cli, full_store: tuple[Path, list[Path]]) -> None:
    _root, files = full_store
    result = cli("ingest", *files)
    message = result.err
    assert "Traceback" not in message and len(message.strip().splitlines()) == 1, message
    assert "c.bin: the store is full" in message and "nothing was recorded" in message
    assert "2 file(s) were stored completely but not recorded" in message
    assert "a.bin" in message.split("not recorded")[1] and "b.bin" in message.split("not recorded")[1]
    assert "1 file(s) were not stored" in message and "nothing was stored" not in message


def test_status_and_verify_show_the_complete_unrecorded_blobs(cli: Cli, full_store: tuple[Path, list[Path]]) -> None:
    _root, files = full_store
    unrecorded = cli.ok("status", "--json").json()["unrecorded_blobs"]
    assert unrecorded["checked"] and unrecorded["count"] == 2
    assert set(unrecorded["digests"]) == {_sha(files[0]), _sha(files[1])}
    assert "2 complete blob(s) stored but not recorded" in cli.ok("status").out
    report = cli("verify", "--all", "--json")
    assert report.code == 0, report.out
    warned = {c["subject"] for c in report.json()["checks"] if c["check"] == "unrecorded-blob" and c["warning"]}
    assert warned == {f"blob {_sha(files[0])}", f"blob {_sha(files[1])}"}


def test_a_rerun_records_the_stored_blobs_without_copying_them(cli: Cli, full_store: tuple[Path, list[Path]]) -> None:
    root, files = full_store
    # Leave too little space to copy either file again: only finding the stored blobs can succeed.
    filler = _fill(root.parent, leave=400_000)
    result = cli("ingest", files[0], files[1], "--json")
    assert result.code == 0, result.err
    assert {r["sha256"] for r in result.json()} == {_sha(files[0]), _sha(files[1])}
    assert cli.ok("status", "--json").json()["unrecorded_blobs"]["count"] == 0
    filler.unlink()
    cli.ok("verify", "--all")


def test_a_full_catalog_is_a_one_line_error_and_nothing_half_written(
    cli: Cli, small_fs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "archive"
    cli.ok(
        "init",
        root,
        "--admin",
        "alice",
        "--db",
        f"sqlite:///{small_fs}/custody.db",
        new_passphrase=PASSPHRASES["alice"],
    )
    monkeypatch.setenv("CUSTODY_ARCHIVE", str(root))
    evidence = _file(tmp_path, "e.txt", 1000)
    cli.ok("ingest", evidence)
    events = len(cli.ok("log", "--json").json())
    filler = _fill(small_fs)
    result = cli("annotate", "EV-000001", "x" * 200_000)
    assert result.code != 0
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1, result.err
    assert "catalog" in result.err and "is full" in result.err and "nothing of this command was recorded" in result.err
    filler.unlink()
    assert len(cli.ok("log", "--json").json()) == events
    cli.ok("verify", "--all")


def test_blobs_of_corrections_and_acquisitions_are_not_reported_unrecorded(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", "--case", "A", actor="bob")
    copy = tmp_path / "again" / "transcript.txt"
    copy.parent.mkdir()
    copy.write_bytes((evidence / "transcript.txt").read_bytes())
    cli.ok("ingest", copy, "--case", "B", actor="bob")  # an acquisition: its withheld values are a blob
    cli.ok("correct", "EV-000001", "--field", "method", "--value", "USB", "--reason", "typo", actor="bob")
    assert cli.ok("status", "--json").json()["unrecorded_blobs"]["count"] == 0
    report = cli.ok("verify", "--all", "--json", actor="dave").json()
    assert not [c for c in report["checks"] if c["check"] == "unrecorded-blob"]
