"""A team archive: PostgreSQL catalog + S3 Object Lock store (moto_server over HTTP), same guarantees."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import create_engine, text

from custody.db.migrate import HEAD_REVISION, head_revision, script_head
from tests.support.archives import PASSPHRASES, Cli
from tests.support.s3_server import MotoServer

pytest_plugins = ["tests.conftest_s3"]


def _init(cli: Cli, root: Path, pg_url: str, server: MotoServer, bucket: str, *extra: str) -> Path:
    cli.ok(
        "init",
        root,
        "--admin",
        "alice",
        "--db",
        pg_url,
        "--store",
        f"s3://{bucket}/evidence",
        "--s3-endpoint",
        server.url,
        *extra,
        new_passphrase=PASSPHRASES["alice"],
    )
    return root


@pytest.fixture
def team_archive(
    cli: Cli, tmp_path: Path, pg_url: str, s3: MotoServer, s3_locked_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    root = _init(cli, tmp_path / "team", pg_url, s3, s3_locked_bucket, "--retention-days", "400")
    monkeypatch.setenv("CUSTODY_ARCHIVE", str(root))
    return root


def _counts(pg_url: str) -> tuple[int, int]:
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            return (
                conn.execute(text("select count(*) from items")).scalar_one(),
                conn.execute(text("select count(*) from events")).scalar_one(),
            )
    finally:
        engine.dispose()


def test_ingested_blobs_are_locked_in_compliance_mode(
    cli: Cli, team_archive: Path, evidence: Path, s3_client, s3_locked_bucket: str
) -> None:
    row = cli.ok("ingest", evidence / "strike.bin", "--json").json()[0]
    key = f"evidence/sha256/{row['sha256'][:2]}/{row['sha256'][2:4]}/{row['sha256']}"
    head = s3_client.head_object(Bucket=s3_locked_bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    expected = datetime.now(UTC) + timedelta(days=400)
    assert abs((head["ObjectLockRetainUntilDate"] - expected).total_seconds()) < 300
    assert head["ContentLength"] == row["size"]
    with pytest.raises(ClientError) as refused:
        s3_client.delete_object(Bucket=s3_locked_bucket, Key=key, VersionId=head["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_verify_reads_back_through_s3_and_checks_the_locks(cli: Cli, team_archive: Path, evidence: Path) -> None:
    cli.ok("ingest", "-r", evidence)
    report = cli.ok("verify", "--all", "--json").json()
    locks = [c for c in report["checks"] if c["check"] == "lock"]
    assert len(locks) == 3 and all(c["ok"] and "COMPLIANCE" in c["detail"] for c in locks)
    assert not any(c["warning"] for c in locks)


def test_verify_warns_when_retention_ends_within_30_days(
    cli: Cli,
    tmp_path: Path,
    pg_url: str,
    s3: MotoServer,
    s3_locked_bucket: str,
    evidence: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = _init(cli, tmp_path / "short", pg_url, s3, s3_locked_bucket, "--retention-days", "10")
    monkeypatch.setenv("CUSTODY_ARCHIVE", str(root))
    cli.ok("ingest", evidence / "transcript.txt")
    result = cli.ok("verify", "--all", "--json")
    (lock,) = [c for c in result.json()["checks"] if c["check"] == "lock"]
    assert lock["warning"] and "retention ends in 9 days" in lock["detail"]


def test_bucket_without_object_lock_is_refused(
    cli: Cli, tmp_path: Path, pg_url: str, s3: MotoServer, s3_unlocked_bucket: str
) -> None:
    result = cli(
        "init",
        tmp_path / "x",
        "--admin",
        "alice",
        "--db",
        pg_url,
        "--store",
        f"s3://{s3_unlocked_bucket}/e",
        "--s3-endpoint",
        s3.url,
        new_passphrase="pw",
    )
    assert result.code != 0 and s3_unlocked_bucket in result.err and "--allow-unlocked" in result.err
    assert not (tmp_path / "x").exists()


def test_bucket_without_object_lock_is_accepted_when_explicitly_allowed(
    cli: Cli, tmp_path: Path, pg_url: str, s3: MotoServer, s3_unlocked_bucket: str
) -> None:
    _init(cli, tmp_path / "x", pg_url, s3, s3_unlocked_bucket, "--allow-unlocked")
    assert "allow_unlocked = true" in (tmp_path / "x" / "custody.toml").read_text()


def test_s3_down_during_ingest_records_nothing_and_a_rerun_completes(
    cli: Cli,
    tmp_path: Path,
    evidence: Path,
    private_s3: MotoServer,
    private_s3_locked_bucket: str,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    team = _init(cli, tmp_path / "team", pg_url, private_s3, private_s3_locked_bucket)
    monkeypatch.setenv("CUSTODY_ARCHIVE", str(team))
    before = _counts(pg_url)
    private_s3.stop()
    try:
        result = cli("ingest", evidence / "strike.bin")
    finally:
        private_s3.start()
    assert result.code != 0
    assert "strike.bin" in result.err and private_s3.url.split("//")[1] in result.err
    assert _counts(pg_url) == before
    assert list((team / "spool").iterdir()) == []
    cli.ok("ingest", evidence / "strike.bin")
    assert cli.ok("verify", "--all", "--json").json()["ok"]


def test_status_shows_database_store_counts_and_checkpoint(cli: Cli, team_archive: Path, evidence: Path) -> None:
    cli.ok("ingest", evidence / "strike.bin")
    status = cli.ok("status", "--json").json()
    assert status["database"]["kind"] == "postgresql" and status["database"]["version"]
    assert status["store"]["kind"] == "s3" and status["store"]["retention_days"] == 400
    assert status["items"] == 1 and status["bytes_stored"] == 200_000
    assert status["latest_checkpoint"]["size"] == status["events"]
    assert "Archive status" in cli.ok("status").out


def test_second_machine_joins_and_appends_to_the_same_log(
    cli: Cli, team_archive: Path, tmp_path: Path, pg_url: str, s3: MotoServer, s3_locked_bucket: str, evidence: Path
) -> None:
    cli.ok("actor", "add", "bob", "--role", "archivist", new_passphrase=PASSPHRASES["bob"])
    other = tmp_path / "laptop2"
    cli.ok("join", other, "--db", pg_url, "--store", f"s3://{s3_locked_bucket}/evidence", "--s3-endpoint", s3.url)
    for name in ("bob.signing.pem", "bob.archive.pem"):  # bob carries his own key files to his machine
        shutil.copy(team_archive / "keys" / name, other / "keys" / name)
    cli.ok("--archive", other, "ingest", evidence / "transcript.txt", actor="bob")
    assert [r["original_name"] for r in cli.ok("list", "--json").json()] == ["transcript.txt"]
    events = cli.ok("log", "--json").json()
    bob = next(a for a in cli.ok("actor", "list", "--json").json() if a["name"] == "bob")
    assert events[-1]["action"] == "ingest" and events[-1]["actor"] == bob["key_id"]
    assert cli.ok("verify", "--all", "--json").json()["ok"]


def test_join_refuses_a_database_without_a_catalog(
    cli: Cli, tmp_path: Path, pg_url: str, s3: MotoServer, s3_locked_bucket: str
) -> None:
    result = cli(
        "join", tmp_path / "j", "--db", pg_url, "--store", f"s3://{s3_locked_bucket}/e", "--s3-endpoint", s3.url
    )
    assert result.code != 0 and "no custody catalog" in result.err


WORKER = """
import sys
from pathlib import Path
from custody.archive import Archive
from custody.ingest import ingest
from custody.records import Provenance
acting = Archive.open(Path(sys.argv[1])).act("alice", lambda _n: "alice-secret")
for path in sorted(Path(sys.argv[2]).iterdir()):
    ingest(acting, [path], Provenance())
"""


def test_four_processes_ingest_into_postgresql_and_s3(cli: Cli, team_archive: Path, tmp_path: Path) -> None:
    procs = []
    for p in range(4):
        folder = tmp_path / f"w{p}"
        folder.mkdir()
        for i in range(25):
            (folder / f"{p}-{i}.bin").write_bytes(os.urandom(32) + f"{p}/{i}".encode())
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(team_archive), str(folder)],
                cwd=Path(__file__).parents[1],
                stderr=subprocess.PIPE,
                env=os.environ.copy(),
            )
        )
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    events = cli.ok("log", "--json").json()
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert len(cli.ok("list", "--json").json()) == 100
    assert cli.ok("verify", "--all", "--json").json()["ok"]


# Migrations


def _old_archive(root: Path, db_url: str | None = None) -> Path:
    """An archive made by the previous release (schema 0002), with evidence in it."""
    from custody.actors import add_actor
    from custody.archive import Archive, open_store
    from custody.config import read_config
    from custody.db.engine import Database
    from custody.ingest import ingest
    from custody.initialise import init_archive
    from custody.log import event_items
    from custody.records import Provenance

    # The previous release kept no event -> item links (table event_items, migration 0005).
    link = event_items.link
    event_items.link = lambda *_args, **_kw: None
    try:
        init_archive(root, "alice", lambda _n: PASSPHRASES["alice"], db_url=db_url, revision="0002_merkle_log").close()
        cfg = read_config(root)
        old = Archive(cfg, Database(cfg.resolved_db_url()), open_store(cfg))
        sample = root.parent / "old-evidence.txt"
        sample.write_text("collected before the upgrade")
        acting = old.act("alice", lambda _n: PASSPHRASES["alice"])
        ingest(acting, [sample], Provenance(case="OLD"))
        add_actor(acting, "bob", "archivist", lambda _n: PASSPHRASES["bob"])
        old.close()
    finally:
        event_items.link = link
    return root


def test_the_schema_revision_custody_expects_is_the_newest_migration_script() -> None:
    # Opening an archive compares against the constant without importing Alembic.
    assert script_head() == HEAD_REVISION


def test_an_old_archive_must_be_upgraded_before_use(cli: Cli, tmp_path: Path) -> None:
    root = _old_archive(tmp_path / "old")
    result = cli("--archive", root, "list")
    assert result.code != 0 and "custody upgrade" in result.err


def test_upgrade_sqlite_archive_keeps_evidence_and_verifies(cli: Cli, tmp_path: Path) -> None:
    root = _old_archive(tmp_path / "old")
    assert "Upgraded the catalog from 0002_merkle_log" in cli.ok("--archive", root, "upgrade").out
    with sqlite3.connect(root / "custody.db") as conn:
        assert conn.execute("select version_num from alembic_version").fetchone()[0] == head_revision()
    assert cli.ok("--archive", root, "verify", "--all", "--json").json()["ok"]
    assert cli.ok("--archive", root, "list", "--case", "OLD", "--json").json()[0]["original_name"] == "old-evidence.txt"
    # The upgrade, the verification, then the filtered list (a logged search).
    tail = [e["action"] for e in cli.ok("--archive", root, "log", "--json").json()[-3:]]
    assert tail == ["archive.upgrade", "verify", "view"]
    # The upgrade filled the item links from the log: the old ingest is in the item's history.
    assert cli.ok("--archive", root, "log", "EV-000001", "--json").json()[0]["action"] == "ingest"


def test_upgrade_postgresql_archive_keeps_evidence_and_verifies(cli: Cli, tmp_path: Path, pg_url: str) -> None:
    root = _old_archive(tmp_path / "old", pg_url)
    cli.ok("--archive", root, "upgrade")
    assert cli.ok("--archive", root, "verify", "--all", "--json").json()["ok"]
    assert "up to date" in cli.ok("--archive", root, "upgrade").out


def test_only_an_admin_may_upgrade(cli: Cli, tmp_path: Path) -> None:
    root = _old_archive(tmp_path / "old")
    result = cli("--archive", root, "upgrade", actor="bob")
    assert result.code == 3 and "bob (role archivist) may not administer" in result.err
    with sqlite3.connect(root / "custody.db") as conn:
        assert conn.execute("select version_num from alembic_version").fetchone()[0] == "0002_merkle_log"
        assert conn.execute("select action from events order by seq desc limit 1").fetchone()[0] == "refuse"
