"""list, show, get, annotate and log: reading the archive leaves a trace."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest

from tests.support.archives import Cli

EVENT_FIELDS = {"seq", "time", "actor", "action", "item", "payload", "prev", "sig"}


@pytest.fixture
def one(cli: Cli, team: Path, evidence: Path) -> str:
    return str(cli.ok("ingest", evidence / "strike.bin", "--case", "UA-1", "--json", actor="bob").json()[0]["item_id"])


def test_list_json_is_an_array_of_item_records(cli: Cli, one: str) -> None:
    records = cli.ok("list", "--json").json()
    assert [r["item_id"] for r in records] == [one]
    assert {"sha256", "blake3", "size", "media_type", "original_name", "provenance"} <= records[0].keys()


def test_show_returns_record_and_logs_a_view(cli: Cli, one: str) -> None:
    view = cli.ok("show", one, "--json", actor="carol").json()
    assert view["record"]["item_id"] == one and view["cases"] == ["UA-1"]
    last = cli.ok("log", one, "--json").json()[-1]
    assert last["action"] == "view" and last["item"] == one


def test_show_human_output_names_the_item(cli: Cli, one: str) -> None:
    assert one in cli.ok("show", one).out


def test_show_unknown_item_is_a_one_line_error(cli: Cli, one: str) -> None:
    result = cli("show", "EV-424242")
    assert result.code != 0 and "no item 'EV-424242'" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_get_copies_bytes_and_logs_purpose(cli: Cli, one: str, evidence: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy.bin"
    cli.ok("get", one, "--out", out, "--purpose", "expert analysis for the defence", actor="dave")
    assert out.read_bytes() == (evidence / "strike.bin").read_bytes()
    last = cli.ok("log", one, "--json").json()[-1]
    assert last["action"] == "access"
    assert last["payload"]["purpose"] == "expert analysis for the defence"


def test_get_refuses_to_overwrite(cli: Cli, one: str, tmp_path: Path) -> None:
    out = tmp_path / "exists.bin"
    out.write_text("keep me")
    result = cli("get", one, "--out", out, "--purpose", "x")
    assert result.code != 0 and "already exists" in result.err
    assert out.read_text() == "keep me"


def test_get_detects_corrupted_blob_and_writes_nothing(cli: Cli, one: str, team: Path, tmp_path: Path) -> None:
    sha = cli.ok("list", "--json").json()[0]["sha256"]
    blob = team / "store" / "sha256" / sha[:2] / sha[2:4] / sha
    blob.chmod(0o644)
    blob.write_bytes(b"overwritten")
    out = tmp_path / "copy.bin"
    result = cli("get", one, "--out", out, "--purpose", "court")
    assert result.code != 0 and one in result.err
    assert not out.exists() and list(tmp_path.glob(".copy.bin*")) == []


def test_annotations_are_appended_and_corrections_supersede(cli: Cli, one: str) -> None:
    first = cli.ok("annotate", one, "Two impacts visible", "--tag", "strike", "--json", actor="carol").json()
    cli.ok("annotate", one, "Three impacts visible", "--supersedes", str(first["seq"]), actor="carol")
    notes = cli.ok("show", one, "--json").json()["annotations"]
    assert [(n["text"], n["superseded"]) for n in notes] == [
        ("Two impacts visible", True),
        ("Three impacts visible", False),
    ]
    assert notes[1]["supersedes"] == first["seq"]


def test_supersedes_must_name_an_annotation_of_the_same_item(cli: Cli, one: str) -> None:
    result = cli("annotate", one, "fix", "--supersedes", "0")
    assert result.code != 0 and "is not an annotation of" in result.err


def test_log_json_has_every_event_field_in_seq_order(cli: Cli, one: str) -> None:
    events = cli.ok("log", "--json").json()
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert all(set(e) == EVENT_FIELDS for e in events)
    for before, after in itertools.pairwise(events):
        from custody.canonical import canonical

        assert after["prev"] == hashlib.sha256(canonical(before)).hexdigest()


def test_log_of_one_item_lists_only_its_events(cli: Cli, one: str) -> None:
    assert {e["item"] for e in cli.ok("log", one, "--json").json()} == {one}
