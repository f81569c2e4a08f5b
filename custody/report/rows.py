"""The label/value rows a report (and ``custody show``) gives for what a record states: metadata, provenance,
corrections and working-copy links, in plain words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from .. import humanize as h
from ..metadata import describe_content_credentials
from ..records import ItemRecord

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


def row(label: str, value: str) -> dict[str, str]:
    """One labelled value, as the templates lay it out."""
    return {"label": label, "value": value}


def capture_rows(metadata: Mapping[str, object]) -> list[dict[str, str]]:
    """The capture time with the tag it came from, then every other time the file states and what it means."""
    rows = []
    found = metadata.get("capture_time")
    chosen: Mapping[str, object] = found if isinstance(found, Mapping) else {}
    when = metadata.get("captured_at")
    if when:
        source = h.text(chosen.get("tag") or metadata.get("captured_at_source"))
        text = h.stated(str(when))
        zone = chosen.get("zone") or metadata.get("captured_at_zone")
        if zone and "unknown" not in text:
            text += f"; {h.text(zone)}"
        rows.append(row("Capture time", text + (f" - from {source}" if source else "")))
    candidates = metadata.get("time_candidates")
    for c in candidates if isinstance(candidates, list) else []:
        if not isinstance(c, Mapping) or (c.get("tag") == chosen.get("tag") and c.get("time") == when):
            continue
        stated_time = h.stated(str(c["time"])) if c.get("time") else h.text(c.get("value"))
        status = "" if c.get("status") in (None, "ok") else f" ({h.text(c.get('status'))})"
        said = f"{stated_time}{status} - {h.text(c.get('tag'))}: {h.text(c.get('meaning'))}"
        rows.append(row("Other time in the file", said))
    return rows


def _read_by(metadata: Mapping[str, object]) -> list[dict[str, str]]:
    """Which tool (and version) produced which values, so an expert can reproduce them."""
    read_by = metadata.get("read_by")
    if not isinstance(read_by, Mapping) or not read_by:
        return []
    by_tool: dict[str, list[str]] = {}
    for field_name, tool in sorted(read_by.items()):
        by_tool.setdefault(h.text(tool), []).append(str(field_name).replace("_", " "))
    return [row("Read by", "; ".join(f"{tool}: {', '.join(fields)}" for tool, fields in by_tool.items()))]


def metadata_rows(metadata: Mapping[str, Any]) -> list[dict[str, str]]:
    """What the file says about itself, for people: capture time, place, device, dimensions, the rest."""
    rows = capture_rows(metadata)
    for key in ("gps", "location"):
        place = metadata.get(key)
        if isinstance(place, Mapping):
            where = h.coordinates(place)
            if where:
                extra = {k: v for k, v in place.items() if k not in {"latitude", "longitude", "altitude"}}
                rows.append(row("Location", where + (f" ({h.text(extra)})" if extra else "")))
    if metadata.get("device"):
        rows.append(row("Device", h.device(metadata["device"])))
    if metadata.get("width") and metadata.get("height"):
        rows.append(row("Dimensions", f"{h.text(metadata['width'])} x {h.text(metadata['height'])} pixels"))
    if isinstance(metadata.get("duration_seconds"), int | float):
        rows.append(row("Duration", h.duration(float(metadata["duration_seconds"]))))
    for key, value in metadata.items():
        if key in _METADATA_HIDDEN or value in (None, "", [], {}):
            continue
        rows.append(row(_METADATA_LABELS.get(key, key.replace("_", " ").capitalize()), h.text(value)))
    if metadata.get("content_credentials"):
        rows.append(row("Content Credentials (C2PA)", describe_content_credentials(metadata["content_credentials"])))
    if metadata.get("tool_missing"):
        rows.append(row("Not read", f"{h.text(metadata['tool_missing'])} was not available at ingest"))
    rows.extend(_read_by(metadata))
    return rows


def derivation_rows(record: ItemRecord, events: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Both directions of a working-copy link: what this item was made from, and the copies made from it."""
    rows = []
    link = record.optional.get("derived_from")
    if isinstance(link, Mapping):
        tool = f"; tool: {h.text(link.get('tool'))}" if link.get("tool") else ""
        rows.append(
            row(
                "Derived from",
                f"{h.text(link.get('item_id'))} (SHA-256 {h.text(link.get('sha256'))}), "
                f"{h.text(link.get('relation'))}: {h.text(link.get('method'))}{tool}",
            )
        )
    for event in events:
        if event.get("action") == "derive" and event.get("item") == record.item_id:
            made = event.get("payload") or {}
            rows.append(
                row("Working copy", f"{h.text(made.get('derived_item'))} ({h.text(made.get('relation'))}), "
                     f"event {event.get('seq')}")
            )  # fmt: skip
    return rows


def provenance_rows(provenance: object) -> list[dict[str, str]]:
    """The archivist's statement of where the item came from."""
    if not isinstance(provenance, Mapping):
        return []
    rows = []
    for key, value in provenance.items():
        if value in (None, ""):
            continue
        label = h.PROVENANCE_LABELS.get(key, key.replace("_", " ").capitalize())
        rows.append(row(label, h.stated(str(value)) if key in h.TIME_FIELDS else h.text(value)))
    return rows


def correction_rows(corrections: object, names: Mapping[str, str], tz: ZoneInfo | None) -> list[dict[str, str]]:
    """Each provenance correction (custody.corrections): the value before and after, who, when, why.

    Withheld fields arrive with the marker in place of both values.
    """
    rows = []
    for c in corrections if isinstance(corrections, list) else []:
        if not isinstance(c, Mapping):
            continue
        field = str(c.get("field"))
        label = h.PROVENANCE_LABELS.get(field, field.replace("_", " ").capitalize())

        def shown(value: object, field: str = field) -> str:
            if value in (None, ""):
                return "(not stated)"
            return h.stated(str(value)) if field in h.TIME_FIELDS else h.text(value)

        rows.append(
            row(
                f"{label}: corrected (event {c.get('seq')})",
                f"{shown(c.get('previous'))} → {shown(c.get('value'))}; by {h.actor(c.get('actor'), names)} "
                f"at {h.utc_and_local(c.get('time'), tz)}; reason: {h.text(c.get('reason'))}",
            )
        )
    return rows

