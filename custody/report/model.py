"""What a custody report says, as plain data for its templates; built in one pass over the events.

Everything here is archive-free: the same function builds the report of a bundle at export and of items on
demand. Time is linear in records + events (+ the item ids events name): events are indexed by item once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import humanize as h
from ..log.logevent import EventJSON
from ..metadata import describe_content_credentials

# Metadata keys shown elsewhere in the report, or meaningless to a reader.
_METADATA_HIDDEN = frozenset(
    {
        "kind",
        "tools",
        "raw_sha256",
        "content_credentials",
        "has_exif",
        "has_capture_metadata",
        "captured_at",
        "captured_at_zone",
        "captured_at_source",
        "capture_times",
        "capture_time",
        "time_candidates",
        "read_by",
        "gps",
        "location",
        "device",
        "width",
        "height",
        "duration_seconds",
        "tool_missing",
    }
)
_METADATA_LABELS = {
    "format": "File format",
    "container": "Container",
    "codecs": "Codecs",
    "frame_rate": "Frame rate (per second)",
    "orientation": "Orientation (EXIF)",
    "phash": "Perceptual hash",
}


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


def index_events(events: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Item id -> every event naming it (its ``item`` or its payload's item list), in the given order."""
    index: dict[str, list[Mapping[str, Any]]] = {}
    for event in events:
        for item in h.items_named(event):
            index.setdefault(item, []).append(event)
    return index


def cases_of(records: Sequence[Mapping[str, Any]]) -> str:
    """The case ids the records state, comma-separated."""
    found: dict[str, None] = {}
    for entry in records:
        prov = entry["record"].get("provenance")
        if isinstance(prov, Mapping) and prov.get("case"):
            found[str(prov["case"])] = None
    return ", ".join(found)


def _row(label: str, value: str) -> dict[str, str]:
    return {"label": label, "value": value}


def _capture(metadata: Mapping[str, Any]) -> list[dict[str, str]]:
    """The capture time with the tag it came from, then every other time the file states and what it means."""
    rows = []
    found = metadata.get("capture_time")
    chosen: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    when = metadata.get("captured_at")
    if when:
        source = h.text(chosen.get("tag") or metadata.get("captured_at_source"))
        text = h.stated(str(when))
        zone = chosen.get("zone") or metadata.get("captured_at_zone")
        if zone and "unknown" not in text:
            text += f"; {h.text(zone)}"
        rows.append(_row("Capture time", text + (f" - from {source}" if source else "")))
    candidates = metadata.get("time_candidates")
    for c in candidates if isinstance(candidates, list) else []:
        if not isinstance(c, Mapping) or (c.get("tag") == chosen.get("tag") and c.get("time") == when):
            continue
        stated_time = h.stated(str(c["time"])) if c.get("time") else h.text(c.get("value"))
        status = "" if c.get("status") in (None, "ok") else f" ({h.text(c.get('status'))})"
        said = f"{stated_time}{status} - {h.text(c.get('tag'))}: {h.text(c.get('meaning'))}"
        rows.append(_row("Other time in the file", said))
    return rows


def _read_by(metadata: Mapping[str, Any]) -> list[dict[str, str]]:
    """Which tool (and version) produced which values, so an expert can reproduce them."""
    read_by = metadata.get("read_by")
    if not isinstance(read_by, Mapping) or not read_by:
        return []
    by_tool: dict[str, list[str]] = {}
    for field_name, tool in sorted(read_by.items()):
        by_tool.setdefault(h.text(tool), []).append(str(field_name).replace("_", " "))
    return [_row("Read by", "; ".join(f"{tool}: {', '.join(fields)}" for tool, fields in by_tool.items()))]


def metadata_rows(metadata: Mapping[str, Any]) -> list[dict[str, str]]:
    """What the file says about itself, for people: capture time, place, device, dimensions, the rest."""
    rows = _capture(metadata)
    for key in ("gps", "location"):
        place = metadata.get(key)
        if isinstance(place, Mapping):
            where = h.coordinates(place)
            if where:
                extra = {k: v for k, v in place.items() if k not in {"latitude", "longitude", "altitude"}}
                rows.append(_row("Location", where + (f" ({h.text(extra)})" if extra else "")))
    if metadata.get("device"):
        rows.append(_row("Device", h.device(metadata["device"])))
    if metadata.get("width") and metadata.get("height"):
        rows.append(_row("Dimensions", f"{h.text(metadata['width'])} x {h.text(metadata['height'])} pixels"))
    if isinstance(metadata.get("duration_seconds"), int | float):
        rows.append(_row("Duration", h.duration(float(metadata["duration_seconds"]))))
    for key, value in metadata.items():
        if key in _METADATA_HIDDEN or value in (None, "", [], {}):
            continue
        rows.append(_row(_METADATA_LABELS.get(key, key.replace("_", " ").capitalize()), h.text(value)))
    if metadata.get("content_credentials"):
        rows.append(_row("Content Credentials (C2PA)", describe_content_credentials(metadata["content_credentials"])))
    if metadata.get("tool_missing"):
        rows.append(_row("Not read", f"{h.text(metadata['tool_missing'])} was not available at ingest"))
    rows.extend(_read_by(metadata))
    return rows


def _derivation_rows(item: str, rec: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Both directions of a working-copy link: what this item was made from, and the copies made from it."""
    rows = []
    link = rec.get("derived_from")
    if isinstance(link, Mapping):
        tool = f"; tool: {h.text(link.get('tool'))}" if link.get("tool") else ""
        rows.append(
            _row(
                "Derived from",
                f"{h.text(link.get('item_id'))} (SHA-256 {h.text(link.get('sha256'))}), "
                f"{h.text(link.get('relation'))}: {h.text(link.get('method'))}{tool}",
            )
        )
    for event in events:
        if event.get("action") == "derive" and event.get("item") == item:
            made = event.get("payload") or {}
            rows.append(
                _row("Working copy", f"{h.text(made.get('derived_item'))} ({h.text(made.get('relation'))}), "
                     f"event {event.get('seq')}")
            )  # fmt: skip
    return rows


def provenance_rows(provenance: Any) -> list[dict[str, str]]:
    """The archivist's statement of where the item came from."""
    if not isinstance(provenance, Mapping):
        return []
    rows = []
    for key, value in provenance.items():
        if value in (None, ""):
            continue
        label = h.PROVENANCE_LABELS.get(key, key.replace("_", " ").capitalize())
        rows.append(_row(label, h.stated(str(value)) if key in {"collected_at", "posted_at"} else h.text(value)))
    return rows


def correction_rows(corrections: Any, names: Mapping[str, str], tz: Any) -> list[dict[str, str]]:
    """Each provenance correction (custody.corrections): the value before and after, who, when, why.

    Withheld fields arrive with the marker in place of both values.
    """
    rows = []
    for c in corrections if isinstance(corrections, list) else []:
        if not isinstance(c, Mapping):
            continue
        field = str(c.get("field"))
        label = h.PROVENANCE_LABELS.get(field, field.replace("_", " ").capitalize())

        def shown(value: Any, field: str = field) -> str:
            if value in (None, ""):
                return "(not stated)"
            return h.stated(str(value)) if field in {"collected_at", "posted_at"} else h.text(value)

        rows.append(
            _row(
                f"{label}: corrected (event {c.get('seq')})",
                f"{shown(c.get('previous'))} → {shown(c.get('value'))}; by {h.actor(c.get('actor'), names)} "
                f"at {h.utc_and_local(c.get('time'), tz)}; reason: {h.text(c.get('reason'))}",
            )
        )
    return rows


def _kind(media_type: str) -> str:
    major = media_type.split("/", 1)[0]
    return {"image": "Picture", "video": "Video", "audio": "Audio", "text": "Text"}.get(major, "File")


def context(
    data: ReportData, paper: str, picture_src: Mapping[str, str], detail_limit: int | None = None
) -> dict[str, Any]:
    """The Jinja2 context of one report; ``picture_src`` maps item id -> the URL its picture is reached by.

    With more than ``detail_limit`` items, only the cover, the exhibit index and the roster are laid out (the
    PDF of a very large case; its HTML always has every section).
    """
    tz = h.zone(data.timezone)
    names, cover = data.names, data.cover
    by_item = index_events(data.events)
    superseded: set[int] = set()
    for event in data.events:
        if event.get("action") == "annotate" and isinstance(event["payload"].get("supersedes"), int):
            superseded.add(event["payload"]["supersedes"])

    def when(value: str | datetime | None) -> dict[str, str]:
        return {"utc": h.utc(value), "local": h.local(value, tz)}

    exhibits = []
    for entry in data.records:
        rec = entry["record"]
        item = str(rec.get("item_id"))
        metadata: Mapping[str, Any] = rec["metadata"] if isinstance(rec.get("metadata"), Mapping) else {}
        captured = _capture(metadata)
        timeline, annotations = [], []
        for mine in by_item.get(item, []):
            seq = int(mine["seq"])
            timeline.append(
                {
                    "seq": seq,
                    "time": when(mine["time"]),
                    "actor": h.actor(mine["actor"], names),
                    "action": h.action(str(mine["action"])),
                    "what": h.describe_event(mine, names),
                    "superseded": seq in superseded,
                }
            )
            if mine["action"] == "annotate":
                payload = mine["payload"]
                annotations.append(
                    {
                        "seq": seq,
                        "time": when(mine["time"]),
                        "author": h.actor(mine["actor"], names),
                        "text": h.text(payload.get("text")),
                        "tags": h.text(payload.get("tags")),
                        "supersedes": payload.get("supersedes"),
                        "superseded": seq in superseded,
                    }
                )
        picture = data.pictures.get(item)
        exhibits.append(
            {
                "item": item,
                "exhibit": data.exhibits.get(item, ""),
                "name": h.text(rec.get("original_name")),
                "kind": _kind(str(rec.get("media_type", ""))),
                "media_type": h.text(rec.get("media_type")),
                "size": h.size(rec.get("size")),
                "short_size": h.short_size(rec.get("size")),
                "sha256": h.text(rec.get("sha256")),
                "short_sha256": h.short_hash(rec.get("sha256")),
                "blake3": h.text(rec.get("blake3")),
                "captured": captured[0]["value"] if captured else "",
                "captured_short": h.stated(str(metadata["captured_at"])) if metadata.get("captured_at") else "",
                "picture": (
                    {"src": picture_src[item], "caption": picture.caption, "kind": picture.kind}
                    if picture is not None and item in picture_src
                    else None
                ),
                "record_rows": [
                    _row("Item id", item),
                    _row("Original file name", h.text(rec.get("original_name"))),
                    _row("Media type", h.text(rec.get("media_type"))),
                    _row("Size", h.size(rec.get("size"))),
                    _row("SHA-256", h.text(rec.get("sha256"))),
                    _row("BLAKE3", h.text(rec.get("blake3"))),
                    _row("Source path at ingest", h.text(rec.get("source_path"))),
                    _row("Ingested at", " / ".join(v for v in when(rec.get("ingested_at")).values() if v)),
                    _row("Ingested by", h.actor_with_key(rec.get("ingested_by"), names)),
                    _row("Record signed by", h.actor_with_key(entry.get("signer"), names)),
                    *([_row("Tags at ingest", h.text(", ".join(map(str, rec["tags"]))))] if rec.get("tags") else []),
                    *_derivation_rows(item, rec, data.events),
                ],
                "metadata_rows": metadata_rows(metadata),
                "provenance_rows": provenance_rows(rec.get("provenance"))
                + correction_rows(rec.get("corrections"), names, tz),
                "flags": [dict(zip(("title", "text"), h.flag(f), strict=True)) for f in rec.get("flags") or []],
                "warnings": [h.text(w) for w in rec.get("warnings") or []],
                "annotations": annotations,
                "timeline": timeline,
            }
        )
    roster = []
    for event in data.events:
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
                "registered_at": when(event["time"]),
                "seq": event["seq"],
                "revoked": "",
            }
        )
    by_key = {r["key_id"]: r for r in roster}
    for event in data.events:
        if event.get("action") == "actor.revoke":
            target = by_key.get(str(event["payload"].get("key_id", "")))
            if target is not None:
                target["revoked"] = f"{h.utc(event['time'])} by {h.actor(event['actor'], names)}"
    return {
        "cover": {
            "kind": cover.kind,
            "doc_id": cover.doc_id,
            "case": cover.case or "(no case stated)",
            "organization": cover.organization,
            "origin": cover.origin,
            "generated": when(cover.generated_at),
            "exporter": f"{cover.exporter_name} ({cover.exporter_role})",
            "exporter_key_id": cover.exporter_key_id,
            "purpose": cover.purpose,
            "recipients": list(cover.recipients),
            "seal_key_id": cover.seal_key_id,
            "checkpoint_size": cover.checkpoint_size,
            "checkpoint_root": cover.checkpoint_root,
            "checkpoint_time": when(cover.checkpoint_time) if cover.checkpoint_time else None,
            "trusted_time": when(cover.trusted_time) if cover.trusted_time else None,
            "verified": list(cover.verified),
            "recheck": list(cover.recheck),
            "timezone": data.timezone,
        },
        "paper": "letter" if paper.lower() == "letter" else "A4",
        "exhibits": exhibits,
        "details": exhibits if detail_limit is None or len(exhibits) <= detail_limit else [],
        "detail_limit": detail_limit,
        "numbered": any(e["exhibit"] for e in exhibits),
        "roster": roster,
        "event_count": len(data.events),
    }
