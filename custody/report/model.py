"""What a custody report is made of: its cover, the signed item entries, the events carried and the pictures.

Everything here is archive-free: the same data builds the report of a bundle at export and of items on demand
(the template context: custody.report.context; the rows of each record: custody.report.rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import humanize as h
from ..log.logevent import EventJSON
from ..records import ItemRecord


@dataclass(frozen=True)
class Picture:
    """A derived picture of an item (thumbnail or keyframe strip): tag-file name and JPEG bytes."""

    kind: str  # "thumbnail" or "keyframes"
    name: str  # path inside the bag, e.g. custody/thumbnails/EV-000001.jpg
    data: bytes
    caption: str


@dataclass(frozen=True)
class Cover:
    """The report's first page."""

    kind: str  # "bundle" (written into an export) or "report" (produced on demand)
    doc_id: str
    case: str
    organization: str
    origin: str
    generated_at: datetime
    exporter_name: str
    exporter_role: str
    exporter_key_id: str
    purpose: str
    recipients: Sequence[str] = ()
    seal_key_id: str | None = None
    checkpoint_size: int | None = None
    checkpoint_root: str | None = None
    checkpoint_time: str | None = None
    trusted_time: str | None = None
    verified: Sequence[str] = ()
    recheck: Sequence[str] = ()


@dataclass
class ReportData:
    """Everything one report shows: cover, signed item entries, the events carried, and derived pictures."""

    cover: Cover
    records: list[dict[str, Any]]
    events: list[EventJSON]
    names: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    exhibits: dict[str, str] = field(default_factory=dict)
    pictures: dict[str, Picture] = field(default_factory=dict)
    timezone: str = ""


def index_events(events: Sequence[Mapping[str, object]]) -> dict[str, list[Mapping[str, Any]]]:
    """Item id -> every event naming it (its ``item`` or its payload's item list), in the given order."""
    index: dict[str, list[Mapping[str, object]]] = {}
    for event in events:
        for item in h.items_named(event):
            index.setdefault(item, []).append(event)
    return index


def cases_of(records: Sequence[Mapping[str, Any]]) -> str:
    """The case ids the records state, comma-separated."""
    found: dict[str, None] = {}
    for entry in records:
        case = ItemRecord.from_json(entry["record"]).case
        if case:
            found[case] = None
    return ", ".join(found)

