"""Times for people: UTC to the second, the configured zone beside it, stated times with their own offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..timeutil import parse_utc


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
