"""The catalog queries that read only what they need (a case's records, an item's annotations) find exactly
what a read of every record and event finds, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from custody.archive import Archive
from custody.catalog_check import case_members, signed_cases
from custody.db.models import Event, Item, ItemCase
from custody.log.events import LogEvent
from custody.query import annotations_of
from tests.support.archives import PASSPHRASES, Cli

# Quotes, a backslash, LIKE wildcards and non-ASCII: the case as JSON text is escaped, the wildcards are literal.
ODD = 'Kharkiv "north" 50%_\\Ω'
LOOKALIKE = "Kharkiv 'north' 50x-/Ω"


@pytest.fixture
def catalog(cli: Cli, any_db_archive: Path, tmp_path: Path) -> Path:
    """Items in cases by their ingest record, by a later acquisition of the same bytes and by case add."""
    for name, role in (("bob", "archivist"), ("carol", "analyst")):
        cli.ok("actor", "add", name, "--role", role, new_passphrase=PASSPHRASES[name])
    files = tmp_path / "files"
    files.mkdir()
    for n in range(6):
        (files / f"f{n}.bin").write_bytes(os.urandom(100 + n))
    cli.ok("ingest", files / "f0.bin", "--case", ODD, "--tag", "drone", actor="bob")  # EV-000001
    cli.ok("ingest", files / "f1.bin", "--case", LOOKALIKE, actor="bob")  # EV-000002
    cli.ok("ingest", files / "f2.bin", "--case", "UA_1", actor="bob")  # EV-000003
    cli.ok("ingest", files / "f3.bin", "--case", "UAx1", actor="bob")  # EV-000004
    cli.ok("ingest", files / "f1.bin", "--case", ODD, "--tag", "convoy", actor="bob")  # acquire of EV-000002
    cli.ok("case", "add", "EV-000004", "--case", ODD, actor="bob")
    cli.ok("annotate", "EV-000003", "Crater, north side", "--tag", "crater", actor="carol")
    cli.ok("annotate", "EV-000001", "Tail fin", "--tag", "munition", actor="carol")
    return any_db_archive


def _everything(archive: Archive) -> tuple[dict[tuple[str, str], str], set[tuple[str, str]]]:
    """Every membership as the full read of verify --all finds it: (signed, table)."""
    with archive.db.read() as session:
        events = [LogEvent.from_row(r) for r in session.scalars(select(Event).order_by(Event.seq))]
        hashes: dict[str, str] = {}
        for e in events:
            if e.action == "ingest" and e.item is not None:
                hashes.setdefault(e.item, str(e.payload["record_sha256"]))
        records = [(str(i), str(r)) for i, r in session.execute(select(Item.item_id, Item.record))]
        added = [e for e in events if e.action in ("acquire", "case.add")]
        table = {(str(i), str(c)) for i, c in session.execute(select(ItemCase.item_id, ItemCase.case_id))}
    return signed_cases(records, hashes, added), table


def test_case_members_finds_what_a_read_of_every_record_and_event_finds(catalog: Path) -> None:
    archive = Archive.open(catalog)
    try:
        signed, table = _everything(archive)
        cases = {c for _, c in signed} | {c for _, c in table}
        assert cases == {ODD, LOOKALIKE, "UA_1", "UAx1"}
        with archive.db.read() as session:
            for case in cases:
                found = case_members(session, case)
                assert found == ({i for i, c in signed if c == case}, {i for i, c in table if c == case}), case
            assert case_members(session, ODD)[0] == {"EV-000001", "EV-000002", "EV-000004"}
            assert case_members(session, "UA_1") == ({"EV-000003"}, {"EV-000003"})
            assert case_members(session, "UA%") == (set(), set())
    finally:
        archive.close()


def test_annotations_read_by_item_equal_those_read_all_at_once(catalog: Path) -> None:
    archive = Archive.open(catalog)
    try:
        with archive.db.read() as session:
            ids = [f"EV-{n:06d}" for n in range(1, 5)]
            by_item = annotations_of(session, ids)
            at_once = annotations_of(session, ids, by_item=0)
            partly = annotations_of(session, ids[:2], by_item=0)
    finally:
        archive.close()
    assert by_item == at_once
    assert {i: [e.action for e in found] for i, found in by_item.items()} == {
        "EV-000001": ["annotate"],
        "EV-000002": ["acquire"],
        "EV-000003": ["annotate"],
    }
    assert partly == {i: by_item[i] for i in ("EV-000001", "EV-000002")}


def test_search_in_a_case_finds_tags_of_annotations_and_acquisitions(cli: Cli, catalog: Path) -> None:
    def ids(*args: str) -> list[str]:
        return [r["item_id"] for r in cli.ok("search", *args, "--json", actor="carol").json()]

    assert ids("--case", ODD, "--tag", "convoy") == ["EV-000002"]
    assert ids("--case", ODD, "--tag", "munition") == ["EV-000001"]
    assert ids("--case", "UA_1", "--text", "crater") == ["EV-000003"]
    assert ids("--case", ODD) == ["EV-000001", "EV-000002", "EV-000004"]
