"""Formatting for people: times, sizes, coordinates, actor names, events and values in plain words.

One module serves the report (HTML/PDF) and the CLI's tables, so a time or a key reads the same everywhere.
Nothing here prints; every function returns text and never a Python repr of a dict or list.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .timeutil import parse_utc

# How each action reads in a timeline.
ACTION_WORDS: dict[str, str] = {
    "archive.init": "Archive created",
    "archive.upgrade": "Archive upgraded",
    "actor.add": "Actor registered",
    "ingest": "Ingested",
    "acquire": "Acquired again",
    "view": "Record viewed",
    "access": "Copy taken out",
    "annotate": "Annotated",
    "verify": "Verified",
    "refuse": "Action refused",
    "export": "Exported",
    "export.failed": "Export failed",
    "import": "Imported",
    "configure": "Setting changed",
    "report": "Report produced",
    "derive": "Working copy made",
    "export.request": "Export requested",
    "export.approve": "Export approved",
    "export.reject": "Export refused by an approver",
    "case.add": "Added to a case",
    "correct": "Provenance corrected",
    "replicate": "Copied to a replica",
}

# What each flag code means, as a heading for its message.
FLAG_WORDS: dict[str, str] = {
    "metadata_absent": "Metadata missing",
    "tool_missing": "Metadata not read",
    "c2pa_not_read": "Content Credentials not read",
    "c2pa_invalid": "Content Credentials do not validate",
    "corrupt": "File damaged",
    "extension_mismatch": "Name does not match content",
    "capture_after_ingest": "Capture time after ingest",
    "capture_after_collection": "Capture time after collection",
    "fs_time_far": "File time far from capture time",
}

PROVENANCE_LABELS: dict[str, str] = {
    "case": "Case",
    "source_url": "Source URL",
    "platform": "Platform",
    "uploader": "Posted by (account)",
    "posted_at": "Posted at",
    "title": "Title of the post",
    "description": "Text of the post",
    "language": "Language",
    "collected_by": "Collected by",
    "collected_from": "Handed over by",
    "collected_at": "Collected at",
    "method": "How it was collected",
    "capture_device": "Capture device (as stated)",
    "note": "Note",
}
_TIME_KEYS = frozenset({"collected_at", "posted_at"})


def zone(name: str | None) -> ZoneInfo | None:
    """The IANA time zone ``name`` (None for none or an unknown name)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_time(value: str | datetime | None) -> datetime | None:
    """An ISO 8601 text or datetime as an aware datetime; None if it is not a time (naive times stay naive)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return parse_utc(str(value).strip())
    except ValueError:
        return None


def utc(value: str | datetime | None) -> str:
    """``2026-02-28 12:03:11 UTC`` (seconds, no microseconds); the input unchanged if it is not a time."""
    when = parse_time(value)
    if when is None or when.tzinfo is None:
        return "" if value is None else str(value)
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def local(value: str | datetime | None, tz: ZoneInfo | None) -> str:
    """The time in ``tz``: ``2026-02-28 14:03:11 EET (UTC+02:00)``; empty without a zone."""
    when = parse_time(value)
    if tz is None or when is None or when.tzinfo is None:
        return ""
    there = when.astimezone(tz)
    return f"{there:%Y-%m-%d %H:%M:%S} {there.tzname()} ({_offset(there)})"


def utc_and_local(value: str | datetime | None, tz: ZoneInfo | None) -> str:
    """UTC, then the configured zone when there is one: for one-line outputs."""
    there = local(value, tz)
    return f"{utc(value)} / {there}" if there else utc(value)


def stated(value: str | datetime | None) -> str:
    """A time as its source stated it: with its own offset, or marked as device-local when it has none."""
    when = parse_time(value)
    if when is None:
        return "" if value is None else str(value)
    if when.tzinfo is None:
        return f"{when:%Y-%m-%d %H:%M:%S} (device clock, time zone unknown)"
    return f"{when:%Y-%m-%d %H:%M:%S} ({_offset(when)})"


def _offset(when: datetime) -> str:
    delta = when.utcoffset() or timedelta(0)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _decimal(n: int) -> str:
    """``200.0 kB``: ``n`` (1000 or more) bytes in the largest decimal unit below 1000 of it (PB at most)."""
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} PB"


def size(n: int | None) -> str:
    """``200,000 bytes (200.0 kB)``: exact bytes first, decimal units for reading."""
    if n is None:
        return ""
    return f"{n:,} bytes" if n < 1000 else f"{n:,} bytes ({_decimal(n)})"


def short_size(n: int | None) -> str:
    """``200.0 kB`` (or ``12 bytes``) for narrow table columns."""
    if n is None:
        return ""
    return f"{n} bytes" if n < 1000 else _decimal(n)


def duration(seconds: float | None) -> str:
    """``1 min 05 s`` / ``12.4 s``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {rest:02d} s" if hours else f"{minutes} min {rest:02d} s"


def _degrees(value: float, positive: str, negative: str) -> str:
    return f"{abs(value):.6f}° {positive if value >= 0 else negative}"


def coordinates(location: Mapping[str, object]) -> str:
    """``47.838800° N, 35.139600° E, altitude 98.0 m``; empty when latitude or longitude is missing."""
    lat, lon = _number(location.get("latitude")), _number(location.get("longitude"))
    if lat is None or lon is None:
        return ""
    text = f"{_degrees(lat, 'N', 'S')}, {_degrees(lon, 'E', 'W')}"
    altitude = _number(location.get("altitude"))
    if altitude is not None:
        text += f", altitude {altitude:.1f} m"
    return text


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def short_hash(digest: str | None, n: int = 16) -> str:
    """The first ``n`` hex digits of a digest (enough to find it; the full value is printed elsewhere)."""
    return "" if not digest else digest[:n]


def actor(key_id: str | None, names: Mapping[str, str]) -> str:
    """The registered name behind a key id, or ``unregistered key <first 12 hex>``."""
    if not key_id:
        return ""
    name = names.get(key_id)
    return name if name else f"unregistered key {key_id[:12]}"


def actor_with_key(key_id: str | None, names: Mapping[str, str]) -> str:
    """``bob (key 3f2a9c01b7d4…)``."""
    if not key_id:
        return ""
    name = names.get(key_id)
    return f"{name} (key {key_id[:12]}…)" if name else f"unregistered key {key_id[:12]}…"


def printable(value: str) -> str:
    """``value`` with control and format characters shown as escapes (``\\x1b``, ``\\u202e``), line breaks kept.

    A file name or note may hold terminal escape sequences or bidirectional overrides; shown raw they
    would recolour a terminal or reorder what a reader sees.
    """
    if value.isprintable():
        return value
    out = []
    for ch in value:
        if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def text(value: object) -> str:
    """Any JSON value in plain words: ``a: 1; b: x`` for objects, ``x, y`` for lists; never a Python repr.

    Control characters in strings are shown escaped (``printable``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return "; ".join(f"{str(k).replace('_', ' ')}: {text(v)}" for k, v in value.items() if v not in (None, ""))
    if isinstance(value, list | tuple):
        return ", ".join(text(v) for v in value)
    return printable(str(value))


def device(value: object) -> str:
    """``Samsung SM-A525F (software A525FXXS7FWK1)`` from a make/model/software mapping (or a plain text)."""
    if not isinstance(value, Mapping):
        return text(value)
    make, model = str(value.get("make") or "").strip(), str(value.get("model") or "").strip()
    if make and model.lower().startswith(make.lower()):
        make = ""
    name = " ".join(p for p in (make, model) if p)
    extra = {k: v for k, v in value.items() if k not in {"make", "model"} and v not in (None, "")}
    if extra:
        return f"{name} ({text(extra)})" if name else text(extra)
    return name


def flag(value: object) -> tuple[str, str]:
    """A flag as (heading, explanation) in plain words."""
    if isinstance(value, Mapping):
        code = str(value.get("code") or "")
        return FLAG_WORDS.get(code, code.replace("_", " ").capitalize() or "Flag"), text(value.get("message"))
    return "Flag", text(value)


def items_named(event: Mapping[str, object]) -> list[str]:
    """Every item an event is about: custody.log.item_names' rule (its ``item`` and the payload field that names
    items for its action), read defensively from an event object."""
    from .log.item_names import named_items

    item = event.get("item")
    payload = event.get("payload")
    return named_items(
        str(event.get("action")),
        item if isinstance(item, str) else None,
        dict(payload) if isinstance(payload, Mapping) else {},
    )


def describe_event(event: Mapping[str, object], names: Mapping[str, str]) -> str:
    """What happened, in one plain sentence (details of the payload that matter to a reader)."""
    payload = event.get("payload") if isinstance(event.get("payload"), Mapping) else {}
    assert isinstance(payload, Mapping)
    action = str(event.get("action"))
    if action == "ingest":
        return "Received, hashed (SHA-256 and BLAKE3), signed and stored"
    if action == "acquire":
        acq = payload.get("acquisition") if isinstance(payload.get("acquisition"), Mapping) else {}
        assert isinstance(acq, Mapping)
        prov = acq.get("provenance") if isinstance(acq.get("provenance"), Mapping) else {}
        assert isinstance(prov, Mapping)
        parts = [f"The same bytes arrived again as {text(acq.get('original_name'))}"]
        if prov.get("method"):
            parts.append(f"method: {text(prov.get('method'))}")
        return "; ".join(parts)
    if action == "annotate":
        said = f"Annotation: {text(payload.get('text'))}"
        if payload.get("tags"):
            said += f" [tags: {text(payload.get('tags'))}]"
        if payload.get("supersedes") is not None:
            said += f" (corrects the annotation of event {payload['supersedes']})"
        return said
    if action == "access":
        return f"Copy of the bytes taken out ({text(payload.get('kind'))}); purpose: {text(payload.get('purpose'))}"
    if action == "view":
        if payload.get("kind") == "search":
            query = payload.get("query")
            query = query if isinstance(query, dict) else {}
            asked = "; ".join(f"{k}={text(v)}" for k, v in sorted(query.items())) or "(everything)"
            return f"Search by {asked}: {text(payload.get('found'))} item(s) found"
        return "Record displayed to the actor"
    if action == "export":
        said = f"Included in sealed bundle {text(payload.get('bundle_id'))}; purpose: {text(payload.get('purpose'))}"
        if payload.get("recipients"):
            said += f"; encrypted to {len(payload['recipients'])} recipient key(s)"
        return said
    if action == "derive":
        return (
            f"Working copy {text(payload.get('derived_item'))} made from {text(event.get('item'))} "
            f"({text(payload.get('relation'))}): {text(payload.get('method'))}"
        )
    if action == "export.request":
        return (
            f"Export requested (needs {text(payload.get('approvals_required'))} approval(s)); "
            f"purpose: {text(payload.get('purpose'))}"
        )
    if action in ("export.approve", "export.reject"):
        verb = "approved" if action == "export.approve" else f"refused ({text(payload.get('reason'))})"
        return f"Export request {text(payload.get('request'))} {verb}"
    if action == "export.failed":
        return f"Export of bundle {text(payload.get('bundle_id'))} did not complete: {text(payload.get('reason'))}"
    if action == "import":
        return (
            f"Received in bundle {text(payload.get('bundle_id'))} from archive {text(payload.get('origin'))}, "
            "verified before import"
        )
    if action == "case.add":
        return f"Added to case {text(payload.get('case'))}"
    if action == "correct":
        # The value itself is signed as a salted digest (it may be withheld from a bundle): never shown here.
        field = text(payload.get("field"))
        label = PROVENANCE_LABELS.get(field, field)
        return f"Provenance field {label} corrected; reason: {text(payload.get('reason'))}"
    if action == "report":
        return f"Custody report produced ({text(payload.get('format'))}); purpose: {text(payload.get('purpose'))}"
    if action == "actor.add":
        return f"{text(payload.get('name'))} registered with role {text(payload.get('role'))}"
    if action == "replicate":
        target = payload.get("target")
        where = target.get("url") if isinstance(target, dict) else target
        return f"Stored bytes copied to the replica {text(where)} ({len(payload.get('blobs') or [])} blob(s))"
    if action == "verify":
        outcome = "passed" if payload.get("ok") else "found failures" if "ok" in payload else "run"
        scope = payload.get("scope")
        return f"Verification {outcome}" + (f" (scope: {text(scope)})" if scope else "")
    if action == "refuse":
        return f"Refused: role {text(payload.get('role'))} may not {text(payload.get('attempted'))}"
    if action == "configure":
        return f"Setting {text(payload.get('setting'))} set to {text(payload.get('value')) or '(removed)'}"
    if action == "archive.init":
        return f"Archive {text(payload.get('origin'))} created"
    return ACTION_WORDS.get(action, action) + (f": {text(dict(payload))}" if payload else "")


def action(name: str) -> str:
    """The plain-words name of an action."""
    return ACTION_WORDS.get(name, name)


_KEY_ID = re.compile(r"\b[0-9a-f]{64}\b")
_ISO_TIME = re.compile(r"\b(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)")


def readable(message: str, names: Mapping[str, str]) -> str:
    """A library message for people: registered key ids followed by their names, ISO times in seconds."""

    def key(match: re.Match[str]) -> str:
        name = names.get(match.group(0))
        return f"{name} (key {match.group(0)[:12]}…)" if name else match.group(0)

    def when(match: re.Match[str]) -> str:
        return utc(match.group(0)) if match.group(3) in ("Z", "+00:00") else stated(match.group(0))

    return _ISO_TIME.sub(when, _KEY_ID.sub(key, message))
