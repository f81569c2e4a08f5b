"""custody replicate: every blob copied to a second store, each replica recorded in the log and verified."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from custody.bundle import standalone
from tests.support.archives import Cli
from tests.support.s3_server import MotoServer
from tests.support.schemas import validate

pytest_plugins = ["tests.conftest_s3"]


@pytest.fixture
def filled(cli: Cli, team: Path, evidence: Path) -> Path:
    cli.ok("ingest", "-r", evidence, "--case", "UA-1", actor="bob")
    return team


def _items(cli: Cli) -> dict[str, dict[str, Any]]:
    return {i["item_id"]: i for i in cli.ok("list", "--json").json()}


def _blob(root: Path, sha: str) -> Path:
    return root / "sha256" / sha[:2] / sha[2:4] / sha


def _failures(cli: Cli) -> list[dict[str, Any]]:
    result = cli("verify", "--all", "--json", actor="dave")
    assert result.code == 1, result.out
    return [c for c in result.json()["checks"] if not c["ok"]]


def test_every_blob_is_copied_read_only_and_each_replica_is_logged(cli: Cli, filled: Path, tmp_path: Path) -> None:
    replica = tmp_path / "replica"
    result = cli.ok("replicate", "--to", replica, "--json").json()
    assert result["copied"] >= 3 and not result["failures"]  # item blobs plus metadata dumps and withheld values
    for item in _items(cli).values():
        copy = _blob(replica, item["sha256"])
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == item["sha256"]
        assert stat.S_IMODE(copy.stat().st_mode) & 0o222 == 0
    events = [e for e in cli.ok("log", "--json").json() if e["action"] == "replicate"]
    for event in events:
        validate("event", event)
    assert [e["seq"] for e in events] == result["events"]
    assert events[0]["payload"]["target"]["url"] == f"file:{replica.resolve()}"
    assert sorted(events[0]["payload"]["items"]) == sorted(_items(cli))
    assert events[0]["seq"] in [e["seq"] for e in cli.ok("log", "EV-000002", "--json").json()]


def test_a_second_run_copies_only_what_is_new(cli: Cli, filled: Path, tmp_path: Path, evidence: Path) -> None:
    replica = tmp_path / "replica"
    first = cli.ok("replicate", "--to", replica, "--json").json()
    again = cli.ok("replicate", "--to", replica, "--json").json()
    assert again["copied"] == 0 and again["already_replicated"] == first["copied"] and not again["events"]
    new = tmp_path / "new.txt"
    new.write_text("later evidence\n")
    cli.ok("ingest", new, actor="bob")
    third = cli.ok("replicate", "--to", replica, "--json").json()
    assert third["copied"] >= 1 and third["already_replicated"] == first["copied"]


def test_verify_all_rehashes_the_replicas(cli: Cli, filled: Path, tmp_path: Path) -> None:
    cli.ok("replicate", "--to", tmp_path / "replica")
    report = cli.ok("verify", "--all", "--json", actor="dave").json()
    replica_checks = [c for c in report["checks"] if c["check"] == "replica"]
    assert replica_checks and all(c["ok"] for c in replica_checks)


def test_a_missing_replica_blob_is_a_named_failure(cli: Cli, filled: Path, tmp_path: Path) -> None:
    replica = tmp_path / "replica"
    cli.ok("replicate", "--to", replica)
    sha = _items(cli)["EV-000002"]["sha256"]
    os.remove(_blob(replica, sha))
    failures = _failures(cli)
    assert [(c["check"], c["subject"]) for c in failures] == [
        ("replica", f"file:{replica.resolve()} blob {sha} (EV-000002)")
    ]
    assert "missing" in failures[0]["detail"]


def test_an_altered_replica_blob_is_a_named_failure(cli: Cli, filled: Path, tmp_path: Path) -> None:
    replica = tmp_path / "replica"
    cli.ok("replicate", "--to", replica)
    sha = _items(cli)["EV-000002"]["sha256"]
    copy = _blob(replica, sha)
    copy.chmod(0o644)
    copy.write_bytes(b"\x00" + copy.read_bytes()[1:])
    failures = _failures(cli)
    assert [(c["check"], c["subject"]) for c in failures] == [
        ("replica", f"file:{replica.resolve()} blob {sha} (EV-000002)")
    ]
    assert "differ" in failures[0]["detail"]


def test_only_an_admin_may_replicate_and_a_refusal_is_logged(cli: Cli, filled: Path, tmp_path: Path) -> None:
    result = cli("replicate", "--to", tmp_path / "replica", actor="bob")
    assert result.code == 3
    assert cli.ok("log", "--json").json()[-1]["action"] == "refuse"
    assert not (tmp_path / "replica").exists()


def test_a_replica_inside_the_archive_is_refused(cli: Cli, filled: Path) -> None:
    result = cli("replicate", "--to", filled / "copy")
    assert result.code == 2 and "outside the archive" in result.err


def test_bundles_carrying_a_replicate_event_verify_in_both_verifiers(cli: Cli, filled: Path, tmp_path: Path) -> None:
    cli.ok("replicate", "--to", tmp_path / "replica")
    bundle = tmp_path / "b.zip"
    cli.ok("export", "EV-000001", "--out", bundle, "--purpose", "disclosure", actor="bob")
    cli.ok("verify-bundle", bundle)
    script = tmp_path / "verify_bundle.py"
    script.write_bytes(standalone.read(standalone.VERIFIER))
    run = subprocess.run([sys.executable, "-I", str(script), str(bundle), "--json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_replicate_to_s3_locks_every_object_and_verify_checks_it(
    cli: Cli, filled: Path, s3: MotoServer, s3_client: Any, s3_locked_bucket: str
) -> None:
    target = f"s3://{s3_locked_bucket}/replica"
    result = cli.ok("replicate", "--to", target, "--s3-endpoint", s3.url, "--retention-days", "30", "--json").json()
    assert result["copied"] >= 3 and not result["failures"]
    for item in _items(cli).values():
        sha = item["sha256"]
        head = s3_client.head_object(Bucket=s3_locked_bucket, Key=f"replica/sha256/{sha[:2]}/{sha[2:4]}/{sha}")
        assert head["ObjectLockMode"] == "COMPLIANCE" and head["ContentLength"] == item["size"]
    report = cli.ok("verify", "--all", "--json", actor="dave").json()
    assert any(c["check"] == "replica" and c["ok"] and c["subject"] == target for c in report["checks"])


def test_a_replica_object_deleted_from_an_unlocked_bucket_is_named(
    cli: Cli, filled: Path, s3: MotoServer, s3_client: Any, s3_unlocked_bucket: str
) -> None:
    target = f"s3://{s3_unlocked_bucket}/replica"
    cli.ok("replicate", "--to", target, "--s3-endpoint", s3.url, "--allow-unlocked")
    sha = _items(cli)["EV-000003"]["sha256"]
    s3_client.delete_object(Bucket=s3_unlocked_bucket, Key=f"replica/sha256/{sha[:2]}/{sha[2:4]}/{sha}")
    failures = _failures(cli)
    assert [(c["check"], c["subject"]) for c in failures] == [("replica", f"{target} blob {sha} (EV-000003)")]


def test_an_archive_holding_imported_items_replicates_and_restores_them(cli: Cli, filled: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "b.zip"
    cli.ok("export", "--case", "UA-1", "--out", bundle, "--purpose", "to a partner", actor="bob")
    receiver, replica, backup = tmp_path / "receiver", tmp_path / "r-replica", tmp_path / "r-backup"
    cli.ok("init", receiver, "--admin", "carol", new_passphrase="carol-secret")
    cli.ok("--archive", receiver, "import", bundle, actor="carol")
    result = cli.ok("--archive", receiver, "replicate", "--to", replica, "--json", actor="carol").json()
    assert result["copied"] >= 3 and not result["failures"]
    cli.ok("--archive", receiver, "verify", "--all", actor="carol")
    cli.ok("--archive", receiver, "backup", backup, actor="carol")
    restored = cli.ok("restore", backup, "--to", tmp_path / "again", "--blobs-from", replica, "--json").json()
    assert restored["missing"] == []
