"""Flags an investigator should see: stripped metadata, impossible times, corruption, disguise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict

from ..timeutil import parse_utc
from .sniff import extension_mismatch


class FlagCode(StrEnum):
    """What an investigator is warned of about one file (``flags[].code`` in schemas/item-record.schema.json)."""

    EMPTY_FILE = "empty_file"
    METADATA_ABSENT = "metadata_absent"
    TOOL_MISSING = "tool_missing"
    TOOL_TIMEOUT = "tool_timeout"
    TOOL_ERROR = "tool_error"
    C2PA_REMOTE_NOT_FETCHED = "c2pa_remote_not_fetched"
    C2PA_NOT_READ = "c2pa_not_read"
    C2PA_INVALID = "c2pa_invalid"
    CORRUPT = "corrupt"
    DECODE_SKIPPED = "decode_skipped"
    EXTENSION_MISMATCH = "extension_mismatch"
    CAPTURE_AFTER_INGEST = "capture_after_ingest"
    CAPTURE_AFTER_COLLECTION = "capture_after_collection"
    FS_TIME_FAR = "fs_time_far"
    TIME_PLACEHOLDER = "time_placeholder"
    TIME_DISAGREEMENT = "time_disagreement"
    GPS_INVALID = "gps_invalid"
    GPS_HEMISPHERE_UNKNOWN = "gps_hemisphere_unknown"


class Flag(TypedDict):
    """One flag in a signed record: a code and a sentence for people."""

    code: str
    message: str


def make_flag(code: FlagCode, message: str) -> Flag:
    """A flag as records hold it (the code as plain text)."""
    return {"code": code.value, "message": message}

FS_TIME_TOLERANCE = timedelta(hours=48)
# A capture time of unknown zone may be off by up to 14 hours either way.
UNKNOWN_ZONE_SLACK = timedelta(hours=14)


def _parse(text: str) -> tuple[datetime, bool] | None:
    """A capture time and whether its zone is known (naive device-local times are not)."""
    try:
        value = parse_utc(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC), False
    return value, True


def compute_flags(
    metadata: dict[str, Any],
    warnings: list[str],
    *,
    ingested_at: datetime,
    collected_at: datetime | None,
    fs_mtime: datetime | None,
    name: str,
    media_type: str,
    size: int | None = None,
    extracted: list[Flag] | None = None,
) -> list[Flag]:
    """Flags for the record and the report, each ``{"code", "message"}``.

    ``extracted`` are the flags extraction raised itself (placeholder times, invalid GPS ...).
    """
    flags: list[Flag] = []

    def flag(code: FlagCode, message: str) -> None:
        flags.append(make_flag(code, message))

    kind = metadata.get("kind")
    if size == 0:
        flag(FlagCode.EMPTY_FILE, "the file is empty (0 bytes): nothing to read; preserved as received")
    if kind == "image" and metadata.get("has_exif") is False:
        flag(
            FlagCode.METADATA_ABSENT,
            "no EXIF or XMP metadata: stripped or never present (typical of social-media re-uploads)",
        )
    if kind == "video" and metadata.get("has_capture_metadata") is False:
        flag(FlagCode.METADATA_ABSENT, "no capture time or location in the container (stripped or re-encoded?)")
    if metadata.get("tool_missing"):
        flag(FlagCode.TOOL_MISSING, f"{metadata['tool_missing']} was not available; metadata was not read")
    flags.extend(extracted or [])
    credentials = metadata.get("content_credentials")
    if credentials and credentials.get("remote_manifest"):
        flag(
            FlagCode.C2PA_REMOTE_NOT_FETCHED,
            f"the file points to a remote Content Credentials manifest at {credentials['remote_manifest'].get('url')}; "
            "not fetched (ingest makes no network requests): fetch and check it separately if it matters",
        )
    elif credentials and credentials.get("not_read"):
        flag(FlagCode.C2PA_NOT_READ, credentials["not_read"])
    elif credentials and credentials.get("validation_state") == "Invalid":
        codes = ", ".join(
            f["code"] for f in credentials.get("failures") or [] if f["code"] != "signingCredential.untrusted"
        )
        flag(
            FlagCode.C2PA_INVALID,
            f"Content Credentials do not validate ({codes or 'no reason given'}): the file was changed after signing, "
            "or the manifest was not made for it",
        )
    if metadata.get("decode_check") == "failed":
        flag(FlagCode.CORRUPT, "the file could not be fully decoded (corrupt or truncated); preserved as received")
    mismatch = extension_mismatch(media_type, name)
    if mismatch:
        flag(FlagCode.EXTENSION_MISMATCH, mismatch)
    captured = _parse(str(metadata["captured_at"])) if metadata.get("captured_at") else None
    if captured is not None:
        when, zone_known = captured
        slack = timedelta(0) if zone_known else UNKNOWN_ZONE_SLACK
        # Differences, not when - slack: a capture time of 0001-01-01 minus any slack is out of range.
        if when - ingested_at > slack:
            flag(FlagCode.CAPTURE_AFTER_INGEST, f"capture time {metadata['captured_at']} is after the ingest time")
        if collected_at is not None and when - collected_at > slack:
            flag(
                FlagCode.CAPTURE_AFTER_COLLECTION,
                f"capture time {metadata['captured_at']} is after the stated "
                f"collection time {collected_at.isoformat()}",
            )
        if fs_mtime is not None and abs(fs_mtime - when) > FS_TIME_TOLERANCE + slack:
            days = abs(fs_mtime - when).days
            flag(FlagCode.FS_TIME_FAR, f"file-system time is {days} days from the capture time")
    return flags
