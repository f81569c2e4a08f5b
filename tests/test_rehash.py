"""The early re-hash of a local store, which `verify --all` starts before opening the catalog."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from custody.hashing import digest_stream
from custody.rehash import early_rehash, start_rehash
from tests.conftest import Cli


@pytest.fixture
def filled(cli: Cli, archive: Path, evidence: Path) -> Path:
    cli.ok("ingest", "-r", evidence)
    return archive


def _rehash_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("custody-rehash")]


def test_early_digests_equal_the_recorded_ones(cli: Cli, filled: Path) -> None:
    items = cli.ok("list", "--json").json()
    with early_rehash(str(filled)) as early:
        assert early is not None
        for item in items:
            got = early.result(item["sha256"])
            assert got is not None
            assert (got.sha256, got.blake3, got.size) == (item["sha256"], item["blake3"], item["size"])


def test_a_blob_stored_after_the_start_is_left_to_the_verifier(cli: Cli, filled: Path, tmp_path: Path) -> None:
    with early_rehash(str(filled)) as early:
        assert early is not None
        late = tmp_path / "late.txt"
        late.write_text("ingested while the re-hash ran\n")
        sha = cli.ok("ingest", late, "--json").json()[0]["sha256"]
        assert early.result(sha) is None


def test_a_changed_blob_gives_its_real_digests(cli: Cli, filled: Path) -> None:
    sha = cli.ok("list", "--json").json()[1]["sha256"]
    blob = filled / "store" / "sha256" / sha[:2] / sha[2:4] / sha
    blob.chmod(0o644)
    blob.write_bytes(b"replaced")
    with early_rehash(str(filled)) as early:
        assert early is not None
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
    assert _rehash_threads() == []


def test_a_refused_verification_stops_the_rehash(cli: Cli, filled: Path) -> None:
    cli.ok("actor", "add", "carol", "--role", "analyst", new_passphrase="carol passphrase")
    result = cli("verify", "--all", actor="carol", passphrase="carol passphrase")
    assert result.code != 0 and "verify" in result.err
    assert _rehash_threads() == []
