"""Flags an investigator should see: stripped metadata, impossible times, corruption, disguise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..timeutil import parse_utc
from .sniff import extension_mismatch

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
    extracted: list[dict[str, str]] | None = None,
) -> list[dict[str, str]]:
    """Flags for the record and the report, each ``{"code", "message"}``.

    ``extracted`` are the flags extraction raised itself (placeholder times, invalid GPS ...).
    """
    flags: list[dict[str, str]] = []

    def flag(code: str, message: str) -> None:
        flags.append({"code": code, "message": message})

    kind = metadata.get("kind")
    if size == 0:
        flag("empty_file", "the file is empty (0 bytes): nothing to read; preserved as received")
    if kind == "image" and metadata.get("has_exif") is False:
        flag(
            "metadata_absent",
            "no EXIF or XMP metadata: stripped or never present (typical of social-media re-uploads)",
        )
    if kind == "video" and metadata.get("has_capture_metadata") is False:
        flag("metadata_absent", "no capture time or location in the container (stripped or re-encoded?)")
    if metadata.get("tool_missing"):
        flag("tool_missing", f"{metadata['tool_missing']} was not available; metadata was not read")
    flags.extend(extracted or [])
    credentials = metadata.get("content_credentials")
    if credentials and credentials.get("remote_manifest"):
        flag(
            "c2pa_remote_not_fetched",
            f"the file points to a remote Content Credentials manifest at {credentials['remote_manifest'].get('url')}; "
            "not fetched (ingest makes no network requests): fetch and check it separately if it matters",
        )
    elif credentials and credentials.get("not_read"):
        flag("c2pa_not_read", credentials["not_read"])
    elif credentials and credentials.get("validation_state") == "Invalid":
        codes = ", ".join(
            f["code"] for f in credentials.get("failures") or [] if f["code"] != "signingCredential.untrusted"
        )
        flag(
            "c2pa_invalid",
            f"Content Credentials do not validate ({codes or 'no reason given'}): the file was changed after signing, "
            "or the manifest was not made for it",
        )
    if metadata.get("decode_check") == "failed":
        flag("corrupt", "the file could not be fully decoded (corrupt or truncated); preserved as received")
    mismatch = extension_mismatch(media_type, name)
    if mismatch:
        flag("extension_mismatch", mismatch)
    captured = _parse(str(metadata["captured_at"])) if metadata.get("captured_at") else None
    if captured is not None:
        when, zone_known = captured
        slack = timedelta(0) if zone_known else UNKNOWN_ZONE_SLACK
        # Differences, not when - slack: a capture time of 0001-01-01 minus any slack is out of range.
        if when - ingested_at > slack:
            flag("capture_after_ingest", f"capture time {metadata['captured_at']} is after the ingest time")
        if collected_at is not None and when - collected_at > slack:
            flag(
                "capture_after_collection",
                f"capture time {metadata['captured_at']} is after the stated "
                f"collection time {collected_at.isoformat()}",
            )
        if fs_mtime is not None and abs(fs_mtime - when) > FS_TIME_TOLERANCE + slack:
            days = abs(fs_mtime - when).days
            flag("fs_time_far", f"file-system time is {days} days from the capture time")
    return flags
