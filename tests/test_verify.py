"""custody verify: everything re-checked, and every kind of tampering found and named."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from typing import BinaryIO

import pytest

from tests.support.archives import Cli
from tests.support.tamper import FifoFeeder, sql


@pytest.fixture
def filled(cli: Cli, team: Path, evidence: Path) -> Path:
    cli.ok("ingest", "-r", evidence, "--case", "UA-1", actor="bob")
    cli.ok("annotate", "EV-000001", "Statement matches the strike video", "--tag", "corroborated", actor="carol")
    return team


def _failing(cli: Cli, *args: str) -> list[dict[str, str]]:
    result = cli("verify", *args, "--json", actor="dave")
    assert result.code == 1, result.out
    report = result.json()
    assert report["ok"] is False
    return [c for c in report["checks"] if not c["ok"]]


def test_clean_archive_verifies_with_exit_zero(cli: Cli, filled: Path) -> None:
    result = cli("verify", "--all", "--json", actor="dave")
    assert result.code == 0, result.out
    report = result.json()
    assert report["ok"] and report["failures"] == 0
    checks = {(c["check"], c["subject"]) for c in report["checks"]}
    assert {("blob", "EV-000001"), ("record-signature", "EV-000002"), ("chain", "log")} <= checks


def test_verify_named_items_only_rehashes_those(cli: Cli, filled: Path) -> None:
    report = cli.ok("verify", "EV-000002", "--json", actor="dave").json()
    assert {c["subject"] for c in report["checks"] if c["check"] == "blob"} == {"EV-000002"}


def test_verification_is_itself_logged(cli: Cli, filled: Path) -> None:
    cli.ok("verify", "--all", actor="dave")
    last = cli.ok("log", "--json").json()[-1]
    assert last["action"] == "verify" and last["payload"]["ok"] is True


def test_human_report_says_all_passed(cli: Cli, filled: Path) -> None:
    assert "ALL CHECKS PASSED" in cli.ok("verify", "--all", actor="dave").out


def test_verify_without_items_or_all_is_an_error(cli: Cli, filled: Path) -> None:
    result = cli("verify", actor="dave")
    assert result.code != 0 and "--all" in result.err


def test_unknown_item_is_named(cli: Cli, filled: Path) -> None:
    result = cli("verify", "EV-999999", actor="dave")
    assert result.code != 0 and "EV-999999" in result.err


def test_flipped_byte_in_stored_file_is_detected(cli: Cli, filled: Path) -> None:
    sha = cli.ok("list", "--json").json()[1]["sha256"]
    blob = filled / "store" / "sha256" / sha[:2] / sha[2:4] / sha
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[1000] ^= 0x01
    blob.write_bytes(bytes(data))
    blob.chmod(0o444)
    failures = _failing(cli, "--all")
    assert [(c["check"], c["subject"]) for c in failures] == [("blob", "EV-000002")]
    assert "sha256" in failures[0]["detail"] and "blake3" in failures[0]["detail"]


def test_a_blob_replaced_by_a_link_to_a_good_copy_is_detected(cli: Cli, filled: Path, tmp_path: Path) -> None:
    sha = cli.ok("list", "--json").json()[1]["sha256"]
    blob = filled / "store" / "sha256" / sha[:2] / sha[2:4] / sha
    copy = tmp_path / "good-copy.bin"
    copy.write_bytes(blob.read_bytes())
    copy.chmod(0o444)
    blob.unlink()
    blob.symlink_to(copy)
    failures = {(c["check"], c["subject"]): c["detail"] for c in _failing(cli, "--all")}
    assert list(failures) == [("blob", "EV-000002")]
    assert "symbolic link" in failures[("blob", "EV-000002")]
    assert cli("get", "EV-000002", "--out", tmp_path / "out.bin", "--purpose", "exhibit").code != 0


def test_item_record_edited_in_sql_is_detected(cli: Cli, filled: Path) -> None:
    sql(filled, "UPDATE items SET record = replace(record, 'transcript.txt', 'innocent.txt') WHERE item_id='EV-000003'")
    failures = {(c["check"], c["subject"]) for c in _failing(cli, "--all")}
    assert ("record-signature", "EV-000003") in failures
    assert ("ingest-event", "EV-000003") in failures


def test_event_deleted_from_the_middle_is_detected(cli: Cli, filled: Path) -> None:
    sql(filled, "DELETE FROM events WHERE seq = 6")
    failures = {(c["check"], c["subject"]) for c in _failing(cli, "--all")}
    assert ("sequence", "event 7") in failures
    assert ("chain", "event 7") in failures


def test_two_swapped_events_are_detected(cli: Cli, filled: Path) -> None:
    sql(
        filled,
        "UPDATE events SET seq = -1 WHERE seq = 6",
        "UPDATE events SET seq = 6 WHERE seq = 7",
        "UPDATE events SET seq = 7 WHERE seq = -1",
    )
    failures = {(c["check"], c["subject"]) for c in _failing(cli, "--all")}
    assert {("event-signature", "event 6"), ("event-signature", "event 7")} <= failures
    assert ("chain", "event 6") in failures


def test_large_logs_check_signatures_in_worker_processes_and_name_the_bad_event(
    cli: Cli, filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import custody.logwalk
    from custody import keys
    from custody.archive import Archive
    from custody.canonical import canonical
    from custody.checks import Report
    from custody.log.events import events_for

    # Lowered so this small log takes the path a log of 20,000 events or more takes.
    monkeypatch.setattr(custody.logwalk, "_PARALLEL_FROM", 1)
    monkeypatch.setattr(custody.logwalk, "_BATCH", 2)
    archive = Archive.open(filled)
    with archive.db.read() as session:
        target = events_for(session, "EV-000001")[-1]
        size = len(events_for(session))
    forged = keys.b64(keys.generate().sign(canonical(target.unsigned())))
    sql(filled, f"UPDATE events SET sig = '{forged}' WHERE seq = {target.seq}")
    report = Report()
    with archive.db.read() as session:
        state = custody.logwalk.walk_log(session, report)
    failed = [(c.check, c.subject) for c in report.checks if not c.ok]
    assert failed == [("event-signature", f"event {target.seq}")]
    assert state.size == size


def test_signature_replaced_by_one_from_another_key_is_detected(cli: Cli, filled: Path) -> None:
    from custody import keys
    from custody.archive import Archive
    from custody.canonical import canonical
    from custody.log.events import LogEvent, events_for

    archive = Archive.open(filled)
    with archive.db.read() as session:
        target = events_for(session, "EV-000001")[-1]  # carol's annotation
    mallory = keys.generate()
    forged = keys.b64(mallory.sign(canonical(target.unsigned())))
    sql(filled, f"UPDATE events SET sig = '{forged}' WHERE seq = {target.seq}")
    failures = {(c["check"], c["subject"]) for c in _failing(cli, "--all")}
    assert ("event-signature", f"event {target.seq}") in failures
    assert isinstance(target, LogEvent)


def test_actor_role_escalated_in_sql_is_detected(cli: Cli, filled: Path) -> None:
    sql(filled, "UPDATE actors SET role = 'admin' WHERE name = 'carol'")
    failures = {(c["check"], c["subject"]) for c in _failing(cli, "--all")}
    assert ("actor", "carol") in failures


def test_writable_blob_is_reported_as_unprotected(cli: Cli, filled: Path) -> None:
    sha = cli.ok("list", "--json").json()[2]["sha256"]
    (filled / "store" / "sha256" / sha[:2] / sha[2:4] / sha).chmod(0o644)
    failures = {(c["check"], c["subject"]) for c in _failing(cli, "--all")}
    assert failures == {("lock", "EV-000003")}


def test_missing_blob_is_detected(cli: Cli, filled: Path) -> None:
    sha = cli.ok("list", "--json").json()[0]["sha256"]
    os.remove(filled / "store" / "sha256" / sha[:2] / sha[2:4] / sha)
    failures = {(c["check"], c["subject"]) for c in _failing(cli, "--all")}
    assert ("blob", "EV-000001") in failures


_STORED = ("blob", "withheld-values", "lock")


@pytest.mark.parametrize("scope", ["--all", "EV-000001"])
def test_each_item_is_reported_fixity_then_withheld_values(cli: Cli, filled: Path, scope: str) -> None:
    # --all re-hashes in a child process and checks the rest meanwhile; one item's checks still come in this order
    # (a local store's lock is reported only when it fails).
    checks = cli.ok("verify", scope, "--json", actor="dave").json()["checks"]
    mine = [(c["check"], c["ok"]) for c in checks if c["subject"] == "EV-000001" and c["check"] in _STORED]
    assert mine == [("blob", True), ("withheld-values", True)]


@pytest.mark.parametrize("scope", ["--all", "EV-000001"])
def test_a_missing_blob_is_one_failed_blob_check_not_also_a_values_or_lock_check(
    cli: Cli, filled: Path, scope: str
) -> None:
    sha = cli.ok("list", "--json").json()[0]["sha256"]
    os.remove(filled / "store" / "sha256" / sha[:2] / sha[2:4] / sha)
    report = cli("verify", scope, "--json", actor="dave").json()
    mine = [(c["check"], c["ok"]) for c in report["checks"] if c["subject"] == "EV-000001" and c["check"] in _STORED]
    assert mine == [("blob", False)]


@pytest.mark.parametrize("scope", ["--all", "EV-000001"])
@pytest.mark.parametrize("level", ["sha256", "ab", "cd"])
def test_a_blob_reached_through_a_linked_store_folder_is_not_the_stored_blob(
    cli: Cli, filled: Path, tmp_path: Path, scope: str, level: str
) -> None:
    """An insider moves a blob's folder out of the store (onto a disk they control, say) and links it back: the
    bytes read through the link are still the right ones today, but they are not the store's."""
    sha = cli.ok("list", "--json").json()[0]["sha256"]
    store = filled / "store"
    folder = {"sha256": store / "sha256", "ab": store / "sha256" / sha[:2], "cd": store / "sha256" / sha[:2] / sha[2:4]}
    moved = tmp_path / "elsewhere"
    os.rename(folder[level], moved)
    os.symlink(moved, folder[level])
    failures = {(c["check"], c["subject"]): c["detail"] for c in _failing(cli, scope)}
    assert "symbolic link" in failures[("blob", "EV-000001")]


@pytest.mark.parametrize("scope", ["--all", "EV-000001"])
def test_a_fifo_serving_the_genuine_bytes_in_place_of_a_blob_fails_and_does_not_stall(
    cli: Cli, filled: Path, scope: str
) -> None:
    """The stored file is replaced by a FIFO that a process of the insider feeds the genuine bytes: the reader
    must not take them for the blob (nor, with nobody feeding it, wait for a writer for ever)."""
    sha = cli.ok("list", "--json").json()[0]["sha256"]
    blob = filled / "store" / "sha256" / sha[:2] / sha[2:4] / sha
    genuine = blob.read_bytes()
    os.remove(blob)
    with FifoFeeder(blob, genuine):
        failures = {(c["check"], c["subject"]): c["detail"] for c in _failing(cli, scope)}
    assert "not a regular file" in failures[("blob", "EV-000001")]


@pytest.mark.parametrize("scope", ["--all", "EV-000001"])
def test_a_read_error_in_a_blob_is_a_failed_blob_check_not_a_crash(
    cli: Cli, filled: Path, scope: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad sector (EIO) part-way through a blob is the damage verify exists to report. Simulated at the read: a
    real disk error cannot be made on demand. With --all the early re-hash is stopped so the verifier reads."""
    import errno
    import io

    import custody.rehash
    from custody.store.local import LocalBlobStore

    sha = cli.ok("list", "--json").json()[0]["sha256"]
    real_open = LocalBlobStore.open_read

    class FailingDisk(io.RawIOBase):
        """The blob's file, whose every read fails as a bad sector does."""

        def readable(self) -> bool:
            return True

        def readinto(self, _buffer: object) -> int:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    def open_read(store: LocalBlobStore, digest: str) -> BinaryIO:
        stream = real_open(store, digest)
        if digest != sha:
            return stream
        stream.close()
        return io.BufferedReader(FailingDisk())

    monkeypatch.setattr(LocalBlobStore, "open_read", open_read)
    monkeypatch.setattr(custody.rehash, "start_rehash", lambda *_a, **_k: None)
    failures = {(c["check"], c["subject"]): c["detail"] for c in _failing(cli, scope)}
    assert "Input/output error" in failures[("blob", "EV-000001")]


@pytest.mark.parametrize(
    "record",
    ["[]", "5", "null", '"text"', "[" * 100_000 + "]" * 100_000, '{"withholdable": {"digests": []}}', "not JSON"],
    ids=["array", "number", "null", "string", "nested-deep", "odd-withholdable", "not-json"],
)
@pytest.mark.parametrize("scope", [("--all",), ("EV-000001",), ("--all", "--rederive")])
def test_a_record_row_that_is_not_a_json_object_is_a_failure_not_a_crash(
    cli: Cli, filled: Path, scope: tuple[str, ...], record: str
) -> None:
    """An insider rewrites a record row with something that is not a record at all: every check that reads it
    (the withheld values on the main thread, the record's fields, --rederive's links) fails it, none crashes."""
    sql(filled, f"update items set record = '{record}' where item_id = 'EV-000001'")
    failures = {(c["check"], c["subject"]) for c in _failing(cli, *scope)}
    assert {("record-signature", "EV-000001"), ("record-fields", "EV-000001")} <= failures


@pytest.mark.parametrize(
    "assign",
    ["size = 'abc'", "size = 2.5", "record = x'00ff'", "signature = x'00'", "blake3 = x'00'"],
)
@pytest.mark.parametrize("scope", ["--all", "EV-000001"])
def test_a_catalog_row_with_a_value_of_the_wrong_type_is_a_failure_not_a_crash(
    cli: Cli, filled: Path, scope: str, assign: str
) -> None:
    """SQLite stores whatever an insider writes into a column: text in size, bytes in record. Such a row fails
    verification by name; it must not crash the verifier (the progress total, the bulk signature check)."""
    sql(filled, f"update items set {assign} where item_id = 'EV-000001'")
    failures = {(c["check"], c["subject"]): c["detail"] for c in _failing(cli, scope)}
    assert "wrong type" in failures[("record-fields", "EV-000001")]


def test_checks_run_in_parallel_over_many_files(cli: Cli, archive: Path, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(12):
        (folder / f"f{i}.bin").write_bytes(os.urandom(50_000))
    cli.ok("ingest", "-r", folder)
    report = cli.ok("verify", "--all", "--json").json()
    assert sum(1 for c in report["checks"] if c["check"] == "blob" and c["ok"]) == 12
    with sqlite3.connect(archive / "custody.db") as conn:
        assert conn.execute("select count(*) from items").fetchone()[0] == 12


def test_the_header_describes_the_log_as_verified_not_with_the_runs_own_event(cli: Cli, filled: Path) -> None:
    out = cli.ok("verify", "--all", actor="dave").out
    match = re.search(r"Log: (\d+) events; latest checkpoint #(\d+): tree size (\d+)", out)
    assert match is not None, out
    events, _number, size = (int(g) for g in match.groups())
    verify_event = [e for e in cli.ok("log", "--json").json() if e["action"] == "verify"][-1]
    assert verify_event["seq"] == events == size  # the run's own event comes after the log it verified
