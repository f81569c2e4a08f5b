"""verify --all proves the catalog is what the log says, reports every damage without a traceback, reads
one snapshot, and exits 1 only when evidence fails a check."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from custody import keys
from custody.archive import Archive
from custody.canonical import canonical
from custody.log.events import LogEvent, events_for
from tests.support.archives import Cli, make_archive
from tests.support.populated import base, copy, db_url, tamper, tsa
from tests.support.schemas import validate

__all__ = ["base", "copy", "tsa"]  # module-scoped fixtures shared with the tamper matrix


def _report(cli: Cli, folder: Path, *args: str | Path) -> dict[str, Any]:
    result = cli("--archive", folder, "verify", "--all", *args, "--json", actor="dave")
    assert "Traceback" not in result.err, result.err
    report: dict[str, Any] = result.json()
    validate("verify-report", report)
    assert result.code == (0 if report["ok"] else 1)
    return report


def _failed(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(c["check"], c["subject"]): c["detail"] for c in report["checks"] if not c["ok"]}


def _details(report: dict[str, Any], check: str, subject: str) -> list[str]:
    return [c["detail"] for c in report["checks"] if not c["ok"] and (c["check"], c["subject"]) == (check, subject)]


def _blob(folder: Path, sha: str) -> Path:
    return folder / "store" / "sha256" / sha[:2] / sha[2:4] / sha


def _ingest_seq(folder: Path, item: str) -> int:
    archive = Archive.open(folder)
    try:
        with archive.db.read() as session:
            return next(e.seq for e in events_for(session, item) if e.action == "ingest")
    finally:
        archive.close()


# --- an item removed from the catalog -------------------------------------------------------------------------


def test_an_item_deleted_with_its_case_membership_and_blob_fails_naming_it(
    cli: Cli, copy: Path, tmp_path: Path
) -> None:
    published = tmp_path / "published.note"
    cli.ok("--archive", copy, "checkpoint", "--export", published)
    sha = next(i["sha256"] for i in cli.ok("--archive", copy, "list", "--json").json() if i["item_id"] == "EV-000002")
    seq = _ingest_seq(copy, "EV-000002")

    def remove(conn: Connection) -> None:
        conn.execute(text("DELETE FROM item_cases WHERE item_id = 'EV-000002'"))
        conn.execute(text("DELETE FROM items WHERE item_id = 'EV-000002'"))

    tamper(copy, remove)
    blob = _blob(copy, sha)
    blob.parent.chmod(0o755)
    blob.unlink()
    for extra in ((), ("--against-checkpoint", published)):
        failed = _failed(_report(cli, copy, *extra))
        detail = failed[("item-missing", "EV-000002")]
        assert f"ingest event {seq}" in detail and "blob is gone" in detail


# --- case membership ------------------------------------------------------------------------------------------


def test_moving_an_item_out_of_its_case_fails_and_export_discloses_nothing(
    cli: Cli, copy: Path, tmp_path: Path
) -> None:
    tamper(
        copy,
        lambda c: c.execute(
            text("UPDATE item_cases SET case_id = 'UA-9' WHERE item_id = 'EV-000001' AND case_id = 'UA-1'")
        ),
    )
    details = _details(_report(cli, copy), "item-case", "EV-000001")
    assert any("table item_cases puts it in case 'UA-9'" in d for d in details)
    assert any("its signed ingest record puts it in case 'UA-1'" in d for d in details)
    for case in ("UA-9", "UA-1"):
        out = tmp_path / f"{case}.zip"
        result = cli("--archive", copy, "export", "--case", case, "--out", out, "--purpose", "disclosure", actor="bob")
        assert result.code == 1 and "EV-000001" in result.err and "nothing was exported" in result.err
        assert not out.exists()


def test_moving_an_item_into_a_case_fails_and_export_discloses_nothing(cli: Cli, copy: Path, tmp_path: Path) -> None:
    tamper(copy, lambda c: c.execute(text("INSERT INTO item_cases (item_id, case_id) VALUES ('EV-000003', 'UA-2')")))
    failed = _failed(_report(cli, copy))
    assert "no signed record or acquire event" in failed[("item-case", "EV-000003")]
    out = tmp_path / "ua2.zip"
    result = cli("--archive", copy, "export", "--case", "UA-2", "--out", out, "--purpose", "disclosure", actor="bob")
    assert result.code == 1 and "EV-000003" in result.err
    assert not out.exists()


def test_an_honest_case_exports(cli: Cli, copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "ua2.zip"
    cli.ok("--archive", copy, "export", "--case", "UA-2", "--out", out, "--purpose", "disclosure", actor="bob")
    assert out.exists()


# --- imports --------------------------------------------------------------------------------------------------


def test_an_edited_imported_record_fails_naming_the_bundle_and_table(cli: Cli, copy: Path) -> None:
    tamper(
        copy, lambda c: c.execute(text("UPDATE imported_records SET record = replace(record, 'sent.txt', 'sent.pdf')"))
    )
    (bundle_failure,) = [c for c in _report(cli, copy)["checks"] if not c["ok"] and c["check"] == "import"]
    assert bundle_failure["subject"].startswith("bundle BND-")
    assert "table imported_records rows differ" in bundle_failure["detail"]


def test_an_import_logged_before_receipts_carried_digests_is_checked_as_far_as_it_can_be(
    cli: Cli, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import custody.bundle.receive

    partner = tmp_path / "partner"
    cli.ok("init", partner, "--admin", "alice", new_passphrase="alice-secret")
    sent = tmp_path / "sent.txt"
    sent.write_text("Partner evidence.\n")
    cli.ok("--archive", partner, "ingest", sent)
    bundle = tmp_path / "b.zip"
    cli.ok("--archive", partner, "export", "EV-000001", "--out", bundle, "--purpose", "to us")
    # An import as custody made it before this change: its receipt carries no digests of the stored rows.
    monkeypatch.setattr(custody.bundle.receive, "import_digests", lambda *_a: None)
    cli.ok("--archive", archive, "import", bundle)
    report = cli.ok("--archive", archive, "verify", "--all", "--json").json()
    (legacy,) = [c for c in report["checks"] if c["check"] == "import"]
    assert legacy["ok"] and legacy["warning"] and legacy["subject"].startswith("bundle BND-")
    assert "cannot be checked" in legacy["detail"]


# --- the guards ----------------------------------------------------------------------------------------------


def test_a_missing_append_only_trigger_is_a_failure(cli: Cli, copy: Path) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(db_url(copy))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER items_append_only ON items"))
            conn.execute(text("ALTER TABLE events DISABLE TRIGGER events_no_truncate"))
        else:
            conn.execute(text("DROP TRIGGER items_no_delete"))
    engine.dispose()
    failed = _failed(_report(cli, copy))
    assert "trigger" in failed[("append-only", "table items")]
    if engine.dialect.name == "postgresql":
        assert "disabled" in failed[("append-only", "table events")]


# --- a damaged log: always a full report -----------------------------------------------------------------------


def _event_count(cli: Cli, folder: Path) -> int:
    return len(cli.ok("--archive", folder, "log", "--json", actor="dave").json())


def _human(cli: Cli, folder: Path) -> str:
    result = cli("--archive", folder, "verify", "--all", actor="dave")
    assert result.code == 1 and "Traceback" not in result.err, result.err
    assert "CHECK(S) FAILED" in result.out and "verify-logged" in result.out
    return result.out


def test_the_last_event_deleted_gives_a_full_report(cli: Cli, copy: Path) -> None:
    count = _event_count(cli, copy)
    tamper(copy, lambda c: c.execute(text(f"DELETE FROM events WHERE seq = {count - 1}")))
    failed = _failed(_report(cli, copy))
    assert any(check == "tree" or check.startswith("checkpoint") for check, _ in failed)
    assert "not logged" in failed[("verify-logged", "log")]
    _human(cli, copy)
    assert _event_count(cli, copy) == count - 1  # nothing was appended to the damaged log


def test_a_forged_event_appended_gives_a_full_report(cli: Cli, copy: Path) -> None:
    archive = Archive.open(copy)
    with archive.db.read() as session:
        last = events_for(session)[-1]
    archive.close()
    forged = LogEvent(last.seq + 1, last.time, keys.key_id(keys.generate().public_key()), "annotate", "EV-000001",
                      {"text": "forged"}, last.chain_hash(), "")  # fmt: skip
    sig = keys.b64(keys.generate().sign(canonical(forged.unsigned())))
    payload = canonical(forged.payload).decode()

    def append(conn: Connection) -> None:
        conn.execute(
            text("INSERT INTO events (seq, time, actor, action, item_id, payload, prev, sig) "
                 "VALUES (:s, :t, :a, 'annotate', 'EV-000001', :p, :prev, :sig)"),
            {"s": forged.seq, "t": forged.time, "a": forged.actor, "p": payload, "prev": forged.prev, "sig": sig},
        )  # fmt: skip

    tamper(copy, append)
    failed = _failed(_report(cli, copy))
    # Signed by a key no admin registered: the authority replay names the forged event.
    assert "no admin registered" in failed[("authority", f"event {forged.seq}")]
    assert "not logged" in failed[("verify-logged", "log")]
    _human(cli, copy)


def test_deleted_tree_nodes_give_a_full_report(cli: Cli, copy: Path) -> None:
    tamper(copy, lambda c: c.execute(text("DELETE FROM tree_nodes WHERE level > 0")))
    failed = _failed(_report(cli, copy))
    assert ("tree-node", "tree_nodes level 1") in failed
    assert "not logged" in failed[("verify-logged", "log")]
    _human(cli, copy)


def test_a_verification_that_cannot_be_logged_is_a_named_check(cli: Cli, copy: Path) -> None:
    # The verify event is refused by the database (a trigger that refuses every insert into events).
    from sqlalchemy import create_engine

    engine = create_engine(db_url(copy))
    trigger = "CREATE TRIGGER events_full BEFORE INSERT ON events"
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("CREATE FUNCTION no_insert() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; "
                              "END; $$ LANGUAGE plpgsql"))  # fmt: skip
            conn.execute(text(f"{trigger} FOR EACH ROW EXECUTE FUNCTION no_insert()"))
        else:
            conn.execute(text(f"{trigger} BEGIN SELECT RAISE(ABORT, 'disk full'); END"))
    engine.dispose()
    report = _report(cli, copy)
    failed = _failed(report)
    assert list(failed) == [("verify-logged", "log")] and "disk full" in failed[("verify-logged", "log")]


# --- exit codes ----------------------------------------------------------------------------------------------


def test_exit_codes_follow_the_outcome(cli: Cli, copy: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.note"
    cli.ok("--archive", copy, "checkpoint", "--export", old)
    count = _event_count(cli, copy)
    cli.ok("--archive", copy, "annotate", "EV-000001", "later", actor="carol")
    newer = cli("--archive", copy, "verify", "--event", str(count), "--checkpoint", old, actor="dave")
    assert newer.code == 2 and "cannot check with this checkpoint" in newer.err
    assert cli("--archive", copy, "verify", "--event", "1", "--checkpoint", old, actor="dave").code == 0
    forged = tmp_path / "forged.note"
    forged.write_text(old.read_text().replace("\n\n", "\nforged\n\n", 1))
    assert cli("--archive", copy, "verify", "--event", "1", "--checkpoint", forged, actor="dave").code == 1
    missing = tmp_path / "nope.note"
    for args in (
        ("verify", "--event", "1", "--checkpoint", missing),
        ("verify", "--all", "--against-checkpoint", missing),
        ("verify-bundle", tmp_path / "nope.zip"),
        ("import", tmp_path / "nope.zip"),
        ("proof", "--event", "100000"),
        ("proof", "--consistency", "5", "--to", "100000"),
        ("verify", "EV-999999"),
    ):
        result = cli("--archive", copy, *args, actor="dave" if args[0] != "import" else "alice")
        assert result.code == 2, (args, result.err)
    refused = cli("--archive", copy, "verify", "--all", actor="carol")
    assert refused.code == 3
    tamper(copy, lambda c: c.execute(text("UPDATE items SET media_type = 'text/x' WHERE item_id = 'EV-000001'")))
    assert cli("--archive", copy, "verify", "--all", actor="dave").code == 1


# --- one snapshot -------------------------------------------------------------------------------------------

WRITER = """
import sys
from pathlib import Path
from custody.annotate import annotate
from custody.archive import Archive
from custody.ingest import ingest
from custody.records import Provenance

archive, folder = Path(sys.argv[1]), Path(sys.argv[2])
acting = Archive.open(archive).act("alice", lambda _n: "alice-secret")
for path in sorted(folder.iterdir()):
    (result,) = ingest(acting, [path], Provenance(case="concurrent"))
    annotate(acting, result.item_id, "seen by " + folder.name, ["busy"])
"""


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_verify_reads_one_snapshot_while_four_writers_append(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, db: str
) -> None:
    url = request.getfixturevalue("pg_url") if db == "postgresql" else None
    archive = make_archive(cli, tmp_path / "archive", monkeypatch, db=url)
    cli.ok("actor", "add", "dave", "--role", "reviewer", new_passphrase="dave-secret")
    procs = []
    for p in range(4):
        folder = tmp_path / f"writer{p}"
        folder.mkdir()
        for i in range(12):
            (folder / f"{p}-{i}.bin").write_bytes(os.urandom(64) + f"{p}/{i}".encode())
        procs.append(
            subprocess.Popen([sys.executable, "-c", WRITER, str(archive), str(folder)],
                             cwd=Path(__file__).parents[1], stderr=subprocess.PIPE)
        )  # fmt: skip
    runs = overlapping = 0
    try:
        while runs < 3 or any(p.poll() is None for p in procs):
            overlapping += any(p.poll() is None for p in procs)
            result = cli("verify", "--all", "--json", actor="dave")
            assert result.code == 0, [c for c in result.json()["checks"] if not c["ok"]]
            runs += 1
            if runs > 40:
                break
            time.sleep(0.05)
    finally:
        for proc in procs:
            _out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err.decode()
    assert overlapping >= 2, "the writers finished before verify could run beside them"
    verifications = [e for e in cli.ok("log", "--json").json() if e["action"] == "verify"]
    assert len(verifications) == runs and all(e["payload"]["ok"] for e in verifications)
    assert cli.ok("verify", "--all", "--json", actor="dave").json()["ok"]
