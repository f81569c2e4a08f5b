"""verify --since / --save-checkpoint: only what was added after a kept checkpoint is checked."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.archives import Cli
from tests.support.schemas import validate
from tests.support.tamper import sql


@pytest.fixture
def kept(cli: Cli, team: Path, evidence: Path, tmp_path: Path) -> Path:
    """An archive verified whole, its checkpoint kept; then two more files ingested."""
    cli.ok("ingest", "-r", evidence, "--case", "UA-1", actor="bob")
    cp = tmp_path / "kept.txt"
    cli.ok("verify", "--all", "--save-checkpoint", cp, actor="dave")
    new = tmp_path / "new"
    new.mkdir()
    (new / "a.txt").write_text("statement A\n")
    (new / "b.bin").write_bytes(os.urandom(5000))
    cli.ok("ingest", "-r", new, "--case", "UA-1", actor="bob")
    return cp


def _since(cli: Cli, cp: Path, *extra: str | Path, code: int = 0) -> dict[str, Any]:
    result = cli("verify", "--since", cp, *extra, "--json", actor="dave")
    assert result.code == code, result.out + result.err
    report: dict[str, Any] = result.json()
    return report


def _sha(cli: Cli, item: str) -> str:
    return str(next(i["sha256"] for i in cli.ok("list", "--json").json() if i["item_id"] == item))


def _blob(archive: Path, sha: str) -> Path:
    return archive / "store" / "sha256" / sha[:2] / sha[2:4] / sha


def test_save_checkpoint_keeps_the_note_of_the_whole_verified_log(cli: Cli, kept: Path) -> None:
    text = kept.read_text()
    assert text.startswith(cli.ok("checkpoint", "--json").json()["origin"] + "\n")
    size = int(text.splitlines()[1])
    verify_events = [e for e in cli.ok("log", "--json").json() if e["action"] == "verify"]
    assert verify_events[0]["seq"] == size  # the log as it was when verify --all ran, not including its own event


def test_since_checks_only_the_items_and_events_added_after_the_kept_checkpoint(cli: Cli, kept: Path) -> None:
    report = _since(cli, kept)
    assert report["ok"]
    validate("verify-report", report)
    for event in cli.ok("log", "--json").json()[-2:]:
        validate("event", event)
    blobs = {c["subject"] for c in report["checks"] if c["check"] == "blob"}
    assert blobs == {"EV-000004", "EV-000005"}
    checks = {c["check"] for c in report["checks"]}
    assert {"since", "consistency", "event-signature", "checkpoint", "event-items", "record-signature"} <= checks
    last = cli.ok("log", "--json").json()[-1]
    assert last["action"] == "verify" and last["payload"]["scope"] == "since" and last["payload"]["ok"] is True


def test_since_can_keep_the_new_checkpoint_for_the_next_run(cli: Cli, kept: Path, tmp_path: Path) -> None:
    old_size = int(kept.read_text().splitlines()[1])
    _since(cli, kept, "--save-checkpoint", kept)
    new_size = int(kept.read_text().splitlines()[1])
    assert new_size > old_size
    again = _since(cli, kept)  # only the previous verify event and its checkpoint are new
    assert again["ok"] and not [c for c in again["checks"] if c["check"] == "blob"]


def test_a_new_blob_altered_on_disk_fails(cli: Cli, kept: Path) -> None:
    sha = _sha(cli, "EV-000005")
    blob = _blob(Path(os.environ["CUSTODY_ARCHIVE"]), sha)
    blob.chmod(0o644)
    blob.write_bytes(b"x" + blob.read_bytes()[1:])
    blob.chmod(0o444)
    failures = [(c["check"], c["subject"]) for c in _since(cli, kept, code=1)["checks"] if not c["ok"]]
    assert failures == [("blob", "EV-000005")]


def test_a_rewritten_event_before_the_kept_checkpoint_fails(cli: Cli, kept: Path) -> None:
    # An insider re-registers dave (event 4) as an admin: the history the kept checkpoint covers changed.
    archive = Path(os.environ["CUSTODY_ARCHIVE"])
    sql(archive, "UPDATE events SET payload = replace(payload, '\"reviewer\"', '\"admin\"') WHERE seq = 4")
    failures = [c for c in _since(cli, kept, code=1)["checks"] if not c["ok"]]
    assert failures[0]["check"] == "since" and "rewritten history" in failures[0]["detail"]
    assert "4" in failures[0]["detail"]


def test_a_truncated_log_fails(cli: Cli, kept: Path) -> None:
    archive = Path(os.environ["CUSTODY_ARCHIVE"])
    size = int(kept.read_text().splitlines()[1])
    sql(archive, f"DELETE FROM events WHERE seq >= {size - 2}")
    failures = [c for c in _since(cli, kept, code=1)["checks"] if not c["ok"]]
    assert failures[0]["check"] == "against-checkpoint" and "truncated" in failures[0]["detail"]


def test_a_new_event_edited_in_sql_is_named(cli: Cli, kept: Path) -> None:
    archive = Path(os.environ["CUSTODY_ARCHIVE"])
    size = int(kept.read_text().splitlines()[1])
    sql(archive, f"UPDATE events SET time = '2030-01-01T00:00:00.000000Z' WHERE seq = {size + 1}")
    failures = {(c["check"], c["subject"]) for c in _since(cli, kept, code=1)["checks"] if not c["ok"]}
    assert ("event-signature", f"event {size + 1}") in failures
    assert ("chain", f"event {size + 2}") in failures


def test_a_stored_tree_node_of_the_kept_history_replaced_fails(cli: Cli, kept: Path) -> None:
    archive = Path(os.environ["CUSTODY_ARCHIVE"])
    sql(archive, "UPDATE tree_nodes SET hash = randomblob(32) WHERE level = 0 AND idx = 2")
    failures = [c for c in _since(cli, kept, code=1)["checks"] if not c["ok"]]
    assert failures and failures[0]["check"] in ("since", "tree")


def test_a_checkpoint_of_another_archive_is_refused(
    cli: Cli, kept: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.archives import make_archive

    make_archive(cli, tmp_path / "other", monkeypatch)
    for n in range(12):  # longer than the kept log, so only the signature can tell
        (tmp_path / f"o{n}.txt").write_text(f"other {n}\n")
        cli.ok("ingest", tmp_path / f"o{n}.txt")
    result = cli("verify", "--since", kept, "--json")
    assert result.code == 1
    first = next(c for c in result.json()["checks"] if not c["ok"])
    assert first["check"] == "since" and "does not verify with this archive's key" in first["detail"]


def test_save_checkpoint_is_not_written_when_a_check_fails(cli: Cli, kept: Path, tmp_path: Path) -> None:
    sha = _sha(cli, "EV-000004")
    os.remove(_blob(Path(os.environ["CUSTODY_ARCHIVE"]), sha))
    out = tmp_path / "next.txt"
    result = cli("verify", "--since", kept, "--save-checkpoint", out, actor="dave")
    assert result.code == 1 and not out.exists() and "not written" in result.err


def test_since_with_items_or_all_is_a_usage_error(cli: Cli, kept: Path) -> None:
    result = cli("verify", "--since", kept, "--all", actor="dave")
    assert result.code == 2 and "--since" in result.err


def test_a_file_that_is_not_a_checkpoint_is_a_usage_error(cli: Cli, kept: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("hello\n")
    result = cli("verify", "--since", bad, actor="dave")
    assert result.code == 2 and "bad.txt" in result.err


def test_an_actor_row_escalated_in_sql_is_named(cli: Cli, kept: Path) -> None:
    sql(Path(os.environ["CUSTODY_ARCHIVE"]), "UPDATE actors SET role = 'admin' WHERE name = 'dave'")
    failures = {(c["check"], c["subject"]) for c in _since(cli, kept, code=1)["checks"] if not c["ok"]}
    assert ("actor", "dave") in failures


def test_since_on_postgresql(cli: Cli, any_db_archive: Path, evidence: Path, tmp_path: Path) -> None:
    cli.ok("ingest", evidence / "transcript.txt", "--case", "UA-1")
    cp = tmp_path / "pg-kept.txt"
    cli.ok("verify", "--all", "--save-checkpoint", cp)
    cli.ok("ingest", evidence / "strike.bin", "--case", "UA-1")
    cli.ok("verify", "--fixity-budget", "1h")
    report = cli.ok("verify", "--since", cp, "--json").json()
    assert {c["subject"] for c in report["checks"] if c["check"] == "blob"} == {"EV-000002"}


def _values_blob(archive: Path, holder: dict[str, Any]) -> Path:
    return _blob(archive, str(holder["withholdable"]["values_sha256"]))


@pytest.mark.parametrize("damage", ["removed", "writable"])
def test_the_withheld_values_of_a_new_acquisition_of_an_earlier_item_are_checked(
    cli: Cli, kept: Path, evidence: Path, tmp_path: Path, damage: str
) -> None:
    # The same bytes as an item verified before, from another source: a new acquire event of an old item, with
    # its own values blob (the only copy of what it withholds).
    again = tmp_path / "again"
    again.mkdir()
    original = next(p for p in sorted(evidence.iterdir()) if p.is_file())
    (again / original.name).write_bytes(original.read_bytes())
    cli.ok("ingest", again / original.name, "--collected-from", "a second witness", actor="bob")
    (event,) = [e for e in cli.ok("log", "--json").json() if e["action"] == "acquire"]
    assert _since(cli, kept)["ok"]
    blob = _values_blob(Path(os.environ["CUSTODY_ARCHIVE"]), event["payload"]["acquisition"])
    if damage == "removed":
        blob.unlink()
    else:
        blob.chmod(0o644)
    failures = [(c["check"], c["subject"]) for c in _since(cli, kept, code=1)["checks"] if not c["ok"]]
    assert failures == [("withheld-values" if damage == "removed" else "lock", f"event {event['seq']}")]


def test_the_withheld_value_of_a_new_correction_is_checked(cli: Cli, kept: Path) -> None:
    cli.ok("correct", "EV-000001", "--field", "collected_from", "--value", "the witness's cousin", "--reason",
           "misheard", actor="bob")  # fmt: skip
    (event,) = [e for e in cli.ok("log", "--json").json() if e["action"] == "correct"]
    assert _since(cli, kept)["ok"]
    _values_blob(Path(os.environ["CUSTODY_ARCHIVE"]), event["payload"]).unlink()
    failures = [(c["check"], c["subject"]) for c in _since(cli, kept, code=1)["checks"] if not c["ok"]]
    assert failures == [("withheld-values", f"event {event['seq']}")]


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
@pytest.mark.parametrize("scope", ["--all", "--since"])
def test_an_unwritable_save_checkpoint_file_is_refused_before_anything_is_verified_or_logged(
    cli: Cli, kept: Path, tmp_path: Path, where: str, scope: str
) -> None:
    out = tmp_path / "no such folder" / "next.txt" if where == "missing folder" else tmp_path
    before = [e["seq"] for e in cli.ok("log", "--json").json() if e["action"] == "verify"]
    args = ["--all"] if scope == "--all" else ["--since", str(kept)]
    result = cli("verify", *args, "--save-checkpoint", out, actor="dave")
    assert result.code == 2 and str(out) in result.err and len(result.err.strip().splitlines()) == 1
    assert [e["seq"] for e in cli.ok("log", "--json").json() if e["action"] == "verify"] == before


@pytest.mark.parametrize("target", ["keys/alice.signing.pem", "custody.db", "custody.toml", "store/new.txt"])
def test_a_save_checkpoint_file_of_the_archive_itself_is_refused_and_left_whole(
    cli: Cli, kept: Path, target: str
) -> None:
    """The note replaces the file whole: 'verify --all --save-checkpoint keys/alice.signing.pem' (a typo, or a reviewer
    with nothing but the verify permission) destroyed the admin's private key, custody.db the catalog."""
    archive = Path(os.environ["CUSTODY_ARCHIVE"])
    path = archive / target
    was = path.read_bytes() if path.exists() else None
    before = [e["seq"] for e in cli.ok("log", "--json").json() if e["action"] == "verify"]
    result = cli("verify", "--all", "--save-checkpoint", path, actor="dave")
    assert result.code == 2 and "the archive's own files" in result.err, (result.out, result.err)
    assert (path.read_bytes() if path.exists() else None) == was
    assert [e["seq"] for e in cli.ok("log", "--json").json() if e["action"] == "verify"] == before


def test_a_link_planted_at_the_temp_name_is_not_written_through(cli: Cli, kept: Path, tmp_path: Path) -> None:
    """The temp file's name was the pid: a symbolic link planted there (by anyone who may write the folder) had the
    checkpoint written through it, over whatever it named."""
    victim = tmp_path / "victim.txt"
    victim.write_text("not a checkpoint\n")
    out = tmp_path / "kept-again.txt"
    for pid in range(os.getpid() - 2, os.getpid() + 3):
        (tmp_path / f".{out.name}.{pid}.tmp").symlink_to(victim)
    cli.ok("verify", "--all", "--save-checkpoint", out, actor="dave")
    assert victim.read_text() == "not a checkpoint\n" and out.read_text().startswith("custody.archive/")


@pytest.mark.parametrize("target", ["keys/alice.signing.pem", "custody.db", "custody.toml"])
def test_checkpoint_export_to_a_file_of_the_archive_itself_is_refused_and_left_whole(
    cli: Cli, kept: Path, target: str
) -> None:
    """'checkpoint --export' writes the same note the same way as --save-checkpoint, and needs no actor at all: it
    must not replace the admin's private key, the catalog or the configuration either."""
    path = Path(os.environ["CUSTODY_ARCHIVE"]) / target
    was = path.read_bytes()
    result = cli("checkpoint", "--export", path)
    assert result.code == 2 and "the archive's own files" in result.err, (result.out, result.err)
    assert path.read_bytes() == was
