"""UTC timestamps in the one textual form custody records use."""

from __future__ import annotations

from datetime import UTC, datetime

from .errors import InputError


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """ISO 8601 UTC with microseconds and a ``Z`` suffix."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_timestamp(ts: float) -> str:
    """A POSIX timestamp (file-system time) in custody's ISO form."""
    return iso(datetime.fromtimestamp(ts, UTC))


def parse_iso(text: str, what: str) -> datetime:
    """Parse an ISO 8601 time given by a user; naive times are refused as ambiguous."""
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{what}: '{text}' is not an ISO 8601 time; use e.g. 2026-02-28T14:03:00+02:00") from None
    if dt.tzinfo is None:
        raise InputError(f"{what}: '{text}' has no UTC offset; add one, e.g. {text}+00:00")
    return dt
