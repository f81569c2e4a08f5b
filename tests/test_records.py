"""ItemRecord: one canonical to/from JSON for the signed item record, byte-identical with what was signed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from custody.canonical import canonical
from custody.records import ItemRecord
from tests.support.archives import Cli

# A record as ingest signed it before withheld fields: source_path and the whole provenance in the clear.
LEGACY: dict[str, object] = {
    "type": "custody.item/v1",
    "archive": "4f1c2a9e-0000-4000-8000-000000000001",
    "item_id": "EV-000001",
    "sha256": "a" * 64,
    "blake3": "b" * 64,
    "size": 12,
    "media_type": "text/plain",
    "original_name": "note \u00e9.txt",
    "source_path": "/evidence/note \u00e9.txt",
    "fs_times": {"modified": "2024-05-01T10:00:00.000000Z"},
    "provenance": {"case": "C-1", "source_url": None, "note": "found \U0001f4f7"},
    "ingested_at": "2024-05-02T09:00:00.123456Z",
    "ingested_by": "c" * 64,
    "metadata": {"kind": "other", "gps": {"latitude": 51.5, "longitude": -0.1275, "altitude": 1e21}},
    "flags": [],
    "warnings": [],
    "future_field": {"nested": [1, 2.5, True, None]},
}


def test_a_record_signed_before_keeps_its_canonical_bytes_through_item_record() -> None:
    assert ItemRecord.from_json(LEGACY).canonical() == canonical(LEGACY)


def test_records_signed_by_ingest_round_trip_to_the_stored_bytes(cli: Cli, archive: Path, evidence: Path) -> None:
    cli.ok("ingest", evidence, "--recursive")
    with sqlite3.connect(archive / "custody.db") as conn:
        texts = [row[0] for row in conn.execute("select record from items")]
    assert len(texts) >= 2
    for text in texts:
        record = ItemRecord.from_text(text)
        assert record.canonical() == text.encode("utf-8")
        assert "withholdable" in record.optional


@pytest.mark.parametrize(
    ("change", "named"),
    [({"size": "12"}, "size"), ({"size": True}, "size"), ({"item_id": 1}, "item_id"),
     ({"provenance": {"case": 3}}, "provenance.case"), ({"fs_times": []}, "fs_times")],
)  # fmt: skip
def test_a_mistyped_record_is_refused_naming_the_field(change: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        ItemRecord.from_json({**LEGACY, **change})


def test_a_record_missing_a_required_field_is_refused_naming_it() -> None:
    stated = {k: v for k, v in LEGACY.items() if k != "ingested_by"}
    with pytest.raises(ValueError, match="ingested_by"):
        ItemRecord.from_json(stated)
