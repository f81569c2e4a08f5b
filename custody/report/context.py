"""The template context of one report, built in one pass over its events.

Time is linear in records + events (+ the item ids events name): events are indexed by item once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .. import humanize as h
from ..records import ItemRecord
from .model import ReportData, index_events
from .rows import capture_rows, correction_rows, derivation_rows, metadata_rows, provenance_rows, row


def context(
    data: ReportData, paper: str, picture_src: Mapping[str, str], detail_limit: int | None = None
) -> dict[str, object]:
    """The Jinja2 context of one report; ``picture_src`` maps item id -> the URL its picture is reached by.

    With more than ``detail_limit`` items, only the cover, the exhibit index and the roster are laid out (the
    PDF of a very large case; its HTML always has every section).
    """
    tz = h.zone(data.timezone)
    by_item = index_events(data.events)
    superseded: set[int] = set()
    for event in data.events:
        if event.get("action") == "annotate" and isinstance(event["payload"].get("supersedes"), int):
            superseded.add(event["payload"]["supersedes"])
    exhibits = []
    for entry in data.records:
        record = ItemRecord.from_json(entry["record"])
        mine = by_item.get(record.item_id, [])
        exhibits.append(_exhibit(data, entry, record, mine, superseded, picture_src, tz))
    return {
        "cover": _cover(data, tz),
        "paper": "letter" if paper.lower() == "letter" else "A4",
        "exhibits": exhibits,
        "details": exhibits if detail_limit is None or len(exhibits) <= detail_limit else [],
        "detail_limit": detail_limit,
        "numbered": any(e["exhibit"] for e in exhibits),
        "roster": _roster(data.events, data.names, tz),
        "event_count": len(data.events),
    }


def _when(value: str | datetime | None, tz: ZoneInfo | None) -> dict[str, str]:
    return {"utc": h.utc(value), "local": h.local(value, tz)}


def _kind(media_type: str) -> str:
    major = media_type.split("/", 1)[0]
    return {"image": "Picture", "video": "Video", "audio": "Audio", "text": "Text"}.get(major, "File")


def _exhibit(
    data: ReportData,
    entry: Mapping[str, Any],
    record: ItemRecord,
    mine: Sequence[Mapping[str, Any]],
    superseded: set[int],
    picture_src: Mapping[str, str],
    tz: ZoneInfo | None,
) -> dict[str, Any]:
    """One item's section: its signed record, what the file says, provenance, flags, annotations, timeline."""
    names = data.names
    item = record.item_id
    metadata = record.metadata
    captured = capture_rows(metadata)
    timeline, annotations = [], []
    for event in mine:
        seq = int(event["seq"])
        timeline.append(
            {
                "seq": seq,
                "time": _when(event["time"], tz),
                "actor": h.actor(event["actor"], names),
                "action": h.action(str(event["action"])),
                "what": h.describe_event(event, names),
                "superseded": seq in superseded,
            }
        )
        if event["action"] == "annotate":
            payload = event["payload"]
            annotations.append(
                {
                    "seq": seq,
                    "time": _when(event["time"], tz),
                    "author": h.actor(event["actor"], names),
                    "text": h.text(payload.get("text")),
                    "tags": h.text(payload.get("tags")),
                    "supersedes": payload.get("supersedes"),
                    "superseded": seq in superseded,
                }
            )
    picture = data.pictures.get(item)
    tags = record.optional.get("tags")
    return {
        "item": item,
        "exhibit": data.exhibits.get(item, ""),
        "name": h.text(record.original_name),
        "kind": _kind(record.media_type),
        "media_type": h.text(record.media_type),
        "size": h.size(record.size),
        "short_size": h.short_size(record.size),
        "sha256": h.text(record.sha256),
        "short_sha256": h.short_hash(record.sha256),
        "blake3": h.text(record.blake3),
        "captured": captured[0]["value"] if captured else "",
        "captured_short": h.stated(str(metadata["captured_at"])) if metadata.get("captured_at") else "",
        "picture": (
            {"src": picture_src[item], "caption": picture.caption, "kind": picture.kind}
            if picture is not None and item in picture_src
            else None
        ),
        "record_rows": [
            row("Item id", item),
            row("Original file name", h.text(record.original_name)),
            row("Media type", h.text(record.media_type)),
            row("Size", h.size(record.size)),
            row("SHA-256", h.text(record.sha256)),
            row("BLAKE3", h.text(record.blake3)),
            row("Source path at ingest", h.text(record.optional.get("source_path"))),
            row("Ingested at", " / ".join(v for v in _when(record.ingested_at, tz).values() if v)),
            row("Ingested by", h.actor_with_key(record.ingested_by, names)),
            row("Record signed by", h.actor_with_key(entry.get("signer"), names)),
            *([row("Tags at ingest", h.text(", ".join(map(str, tags))))] if isinstance(tags, list) and tags else []),
            *derivation_rows(record, mine),
        ],
        "metadata_rows": metadata_rows(metadata),
        "provenance_rows": provenance_rows(record.provenance)
        + correction_rows(record.optional.get("corrections"), names, tz),
        "flags": [dict(zip(("title", "text"), h.flag(f), strict=True)) for f in _listed(record, "flags")],
        "warnings": [h.text(w) for w in _listed(record, "warnings")],
        "annotations": annotations,
        "timeline": timeline,
    }


def _listed(record: ItemRecord, key: str) -> list[object]:
    """A list the record signs under ``key`` (flags, warnings), empty when it has none."""
    found = record.optional.get(key)
    return found if isinstance(found, list) else []


def _roster(events: Sequence[Mapping[str, Any]], names: Mapping[str, str], tz: ZoneInfo | None) -> list[dict[str, Any]]:
    """Every actor the events register, who registered them and when, and whether they were revoked."""
    roster = []
    for event in events:
        if event.get("action") != "actor.add":
            continue
        payload = event["payload"]
        key_id = str(payload.get("key_id", ""))
        roster.append(
            {
                "name": h.text(payload.get("name")),
                "role": h.text(payload.get("role")),
                "key_id": key_id,
                "registered_by": "self (first administrator)"
                if event["actor"] == key_id
                else h.actor(event["actor"], names),
                "registered_at": _when(event["time"], tz),
                "seq": event["seq"],
                "revoked": "",
            }
        )
    by_key = {r["key_id"]: r for r in roster}
    for event in events:
        if event.get("action") == "actor.revoke":
            target = by_key.get(str(event["payload"].get("key_id", "")))
            if target is not None:
                target["revoked"] = f"{h.utc(event['time'])} by {h.actor(event['actor'], names)}"
    return roster


def _cover(data: ReportData, tz: ZoneInfo | None) -> dict[str, object]:
    cover = data.cover
    return {
        "kind": cover.kind,
        "doc_id": cover.doc_id,
        "case": cover.case or "(no case stated)",
        "organization": cover.organization,
        "origin": cover.origin,
        "generated": _when(cover.generated_at, tz),
        "exporter": f"{cover.exporter_name} ({cover.exporter_role})",
        "exporter_key_id": cover.exporter_key_id,
        "purpose": cover.purpose,
        "recipients": list(cover.recipients),
        "seal_key_id": cover.seal_key_id,
        "checkpoint_size": cover.checkpoint_size,
        "checkpoint_root": cover.checkpoint_root,
        "checkpoint_time": _when(cover.checkpoint_time, tz) if cover.checkpoint_time else None,
        "trusted_time": _when(cover.trusted_time, tz) if cover.trusted_time else None,
        "verified": list(cover.verified),
        "recheck": list(cover.recheck),
        "timezone": data.timezone,
    }
