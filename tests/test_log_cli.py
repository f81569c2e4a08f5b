"""Checkpoints, proofs and rollback detection through the command line."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.log import merkle
from custody.log.events import LogEvent
from tests.support.archives import Cli
from tests.support.tamper import sql


@pytest.fixture
def logged(cli: Cli, archive: Path, evidence: Path) -> Path:
    cli.ok("ingest", "-r", evidence)
    cli.ok("annotate", "EV-000002", "first look")
    return archive


def _body(note_text: str) -> list[str]:
    return note_text.split("\n\n", 1)[0].split("\n")


def test_every_appending_command_leaves_a_checkpoint_covering_its_events(
    cli: Cli, logged: Path, tmp_path: Path
) -> None:
    size = len(cli.ok("log", "--json").json())
    cli.ok("checkpoint", "--export", tmp_path / "cp.txt")
    origin, tree_size, root = _body((tmp_path / "cp.txt").read_text())
    assert tree_size == str(size)
    assert origin.startswith("custody.archive/")
    assert len(base64.b64decode(root)) == 32


def test_checkpoint_command_prints_a_signed_note(cli: Cli, logged: Path) -> None:
    text = cli.ok("checkpoint").out
    assert "\n\n\u2014 custody.archive/" in text


def test_vkey_has_c2sp_form(cli: Cli, logged: Path) -> None:
    name, keyhash, key = cli.ok("checkpoint", "--vkey").out.strip().split("+", 2)
    assert name.startswith("custody.archive/") and len(keyhash) == 8
    assert base64.b64decode(key)[0] == 1 and len(base64.b64decode(key)) == 33


@pytest.fixture
def logged_any_db(cli: Cli, any_db_archive: Path, evidence: Path) -> Path:
    cli.ok("ingest", "-r", evidence)
    cli.ok("annotate", "EV-000002", "first look")
    return any_db_archive


def test_inclusion_proof_json_verifies_against_the_checkpoint_root(cli: Cli, logged_any_db: Path) -> None:
    proof = cli.ok("proof", "--event", "5", "--json").json()
    assert {"leaf_index", "tree_size", "hashes", "checkpoint"} <= proof.keys()
    event = LogEvent.from_json(proof["event"])
    root = base64.b64decode(_body(proof["checkpoint"])[2])
    leaf = merkle.leaf_hash(event.canonical())
    hashes = [bytes.fromhex(h) for h in proof["hashes"]]
    assert merkle.verify_inclusion(leaf, proof["leaf_index"], proof["tree_size"], hashes, root)


def test_consistency_proof_json_verifies(cli: Cli, logged_any_db: Path) -> None:
    proof = cli.ok("proof", "--consistency", "3", "--json").json()
    assert proof["old_size"] == 3
    hashes = [bytes.fromhex(h) for h in proof["hashes"]]
    assert merkle.verify_consistency(
        3, proof["new_size"], bytes.fromhex(proof["old_root"]), bytes.fromhex(proof["new_root"]), hashes
    )


def test_proof_for_unknown_event_is_an_error(cli: Cli, logged: Path) -> None:
    result = cli("proof", "--event", "999")
    assert result.code != 0 and "no event 999" in result.err


def test_checkpoint_export_to_an_unwritable_path_is_a_one_line_error(cli: Cli, logged: Path, tmp_path: Path) -> None:
    for target in (tmp_path / "no-such-folder" / "cp.txt", tmp_path):
        result = cli("checkpoint", "--export", target)
        assert result.code == 2 and result.out == "", result.out
        assert result.err.startswith(f"error: {target}: cannot write the checkpoint") and result.err.count("\n") == 1
    assert not (tmp_path / "no-such-folder").exists()


def test_verify_event_against_exported_checkpoint(cli: Cli, logged: Path, tmp_path: Path) -> None:
    cli.ok("checkpoint", "--export", tmp_path / "cp.txt")
    report = cli.ok("verify", "--event", "4", "--checkpoint", tmp_path / "cp.txt", "--json").json()
    assert report["ok"]


def test_verify_all_checks_checkpoints_and_tree(cli: Cli, logged: Path) -> None:
    checks = {c["check"] for c in cli.ok("verify", "--all", "--json").json()["checks"]}
    assert {"tree", "checkpoint"} <= checks


def test_log_extends_an_earlier_published_checkpoint(cli: Cli, logged: Path, tmp_path: Path, evidence: Path) -> None:
    cli.ok("checkpoint", "--export", tmp_path / "old.txt")
    cli.ok("annotate", "EV-000001", "later work")
    report = cli.ok("verify", "--all", "--against-checkpoint", tmp_path / "old.txt", "--json").json()
    assert any(c["check"] == "against-checkpoint" and c["ok"] for c in report["checks"])


def test_rollback_after_a_published_checkpoint_is_detected(cli: Cli, logged: Path, tmp_path: Path) -> None:
    cli.ok("annotate", "EV-000001", "this will be rolled back")
    cli.ok("checkpoint", "--export", tmp_path / "published.txt")
    size = int(_body((tmp_path / "published.txt").read_text())[1])
    # An insider drops the triggers and deletes the newest events and every checkpoint that covers them.
    sql(
        logged,
        f"DELETE FROM events WHERE seq >= {size - 2}",
        f"DELETE FROM tree_nodes WHERE idx * (1 << level) + (1 << level) > {size - 2}",
        f"DELETE FROM checkpoints WHERE size > {size - 2}",
    )
    result = cli("verify", "--all", "--against-checkpoint", tmp_path / "published.txt", "--json")
    assert result.code == 1
    failed = [c for c in result.json()["checks"] if c["check"] == "against-checkpoint"]
    assert failed and not failed[0]["ok"]
    assert str(tmp_path / "published.txt") == failed[0]["subject"]
    assert f"first divergent size {size - 1}" in failed[0]["detail"]


def test_rewrite_after_a_published_checkpoint_is_detected(cli: Cli, logged: Path, tmp_path: Path) -> None:
    cli.ok("checkpoint", "--export", tmp_path / "published.txt")
    sql(logged, "UPDATE events SET payload = replace(payload, 'first look', 'nothing here') WHERE action='annotate'")
    result = cli("verify", "--all", "--against-checkpoint", tmp_path / "published.txt", "--json")
    assert result.code == 1
    failed = [c for c in result.json()["checks"] if c["check"] == "against-checkpoint"]
    assert "rewritten" in failed[0]["detail"]


@settings(max_examples=200, deadline=None)
@given(
    seq=st.integers(min_value=0, max_value=2**53 - 1),
    text=st.text(),
    item=st.one_of(st.none(), st.text(max_size=20)),
    action=st.sampled_from(["ingest", "annotate", "view"]),
    tags=st.lists(st.text(max_size=8), max_size=3),
)
def test_fast_canonical_form_equals_rfc8785(
    seq: int, text: str, item: str | None, action: str, tags: list[str]
) -> None:
    import rfc8785

    from custody.canonical import canonical_text
    from custody.log.events import canonical_pair

    event = LogEvent(
        seq,
        "2026-02-28T14:03:11.000000Z",
        "ab" * 32,
        action,
        item,
        {"text": text, "tags": tags, "n": seq},
        "cd" * 32,
        "c2ln",
    )
    unsigned, full = canonical_pair(
        seq, event.time, event.actor, action, item, canonical_text(event.payload), event.prev, event.sig
    )
    assert unsigned == rfc8785.dumps(dict(event.unsigned()))  # type: ignore[arg-type]
    assert full == event.canonical() == rfc8785.dumps(dict(event.to_json()))  # type: ignore[arg-type]
