"""custody backup / restore, and the restore drill: the archive is deleted and rebuilt from backup and replica."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.support.archives import Cli, make_archive


@pytest.fixture
def filled(cli: Cli, team: Path, evidence: Path) -> Path:
    cli.ok("ingest", "-r", evidence, "--case", "UA-1", actor="bob")
    cli.ok("annotate", "EV-000001", "Statement matches the strike video", actor="carol")
    return team


def _blob(root: Path, sha: str) -> Path:
    return root / "sha256" / sha[:2] / sha[2:4] / sha


def test_the_restore_drill(cli: Cli, filled: Path, tmp_path: Path) -> None:
    replica, backup, published = tmp_path / "replica", tmp_path / "backup", tmp_path / "published.txt"
    cli.ok("replicate", "--to", replica)
    cli.ok("checkpoint", "--export", published)
    cli.ok("backup", backup)
    items = cli.ok("list", "--json").json()
    events = cli.ok("log", "--json").json()
    kept_keys = tmp_path / "kept-keys"  # each actor keeps their own key files; the archive is lost
    shutil.copytree(filled / "keys", kept_keys)
    shutil.rmtree(filled)

    restored = cli.ok("restore", backup, "--to", filled, "--blobs-from", replica, "--json").json()
    assert restored["missing"] == [] and restored["blobs_restored"] >= len(items)
    for key in kept_keys.iterdir():
        shutil.copy2(key, filled / "keys" / key.name)
    for item in items:
        blob = _blob(filled / "store", item["sha256"])
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == item["sha256"]
    assert cli.ok("log", "--json").json()[: len(events)] == events
    report = cli.ok("verify", "--all", "--against-checkpoint", published, "--json", actor="dave").json()
    assert report["ok"]
    assert any(c["check"] == "against-checkpoint" and c["ok"] for c in report["checks"])


def test_the_backup_holds_a_consistent_snapshot_and_its_checkpoint(cli: Cli, filled: Path, tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    cli.ok("backup", backup)
    manifest = json.loads((backup / "backup.json").read_text())
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((backup / name).read_bytes()).hexdigest() == entry["sha256"]
    conn = sqlite3.connect(backup / "custody.db")
    events = conn.execute("select count(*) from events").fetchone()[0]
    assert conn.execute("pragma journal_mode").fetchone()[0] == "delete"  # one self-contained file
    conn.close()
    note = (backup / "checkpoint.txt").read_text()
    assert int(note.splitlines()[1]) == events == manifest["checkpoint"]["size"]
    assert stat_mode(backup / "custody.db") == 0o600


def stat_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def test_an_altered_backup_is_not_restored(cli: Cli, filled: Path, tmp_path: Path) -> None:
    backup, replica = tmp_path / "backup", tmp_path / "replica"
    cli.ok("replicate", "--to", replica)
    cli.ok("backup", backup)
    conn = sqlite3.connect(backup / "custody.db")
    with conn:
        conn.execute("insert into item_cases values ('EV-000001', 'PLANTED')")
    conn.close()
    result = cli("restore", backup, "--to", tmp_path / "restored", "--blobs-from", replica)
    assert result.code == 1 and "custody.db" in result.err and "altered" in result.err
    assert not (tmp_path / "restored").exists()


def test_a_blob_missing_from_the_replica_is_named(cli: Cli, filled: Path, tmp_path: Path) -> None:
    backup, replica = tmp_path / "backup", tmp_path / "replica"
    cli.ok("replicate", "--to", replica)
    cli.ok("backup", backup)
    sha = cli.ok("list", "--json").json()[1]["sha256"]
    os.remove(_blob(replica, sha))
    result = cli("restore", backup, "--to", tmp_path / "restored", "--blobs-from", replica)
    assert result.code == 1 and sha in result.err


def test_backup_refuses_an_existing_folder_and_non_admins(cli: Cli, filled: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("x")
    result = cli("backup", taken)
    assert result.code == 2 and "already exists" in result.err
    assert cli("backup", tmp_path / "b2", actor="dave").code == 3


def test_a_postgresql_catalog_is_pointed_to_pg_dump(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    make_archive(cli, tmp_path / "pg", monkeypatch, pg_url)
    result = cli("backup", tmp_path / "b")
    assert result.code == 2 and "pg_dump" in result.err and not (tmp_path / "b").exists()
