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


def parse_utc(text: str) -> datetime:
    """An ISO 8601 time (``Z`` accepted for UTC) as a datetime; a naive time stays naive.

    The one parser of custody's own and its users' time texts (event times have their strict form checked
    by custody.log.authority.parse_time).

    Raises:
        ValueError: ``text`` is not an ISO 8601 time.
    """
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_iso(text: str, what: str) -> datetime:
    """Parse an ISO 8601 time given by a user; naive times are refused as ambiguous.

    Raises:
        InputError: naming ``what``, for a text that is no ISO 8601 time or has no UTC offset.
    """
    try:
        dt = parse_utc(text)
    except ValueError:
        raise InputError(f"{what}: '{text}' is not an ISO 8601 time; use e.g. 2026-02-28T14:03:00+02:00") from None
    if dt.tzinfo is None:
        raise InputError(f"{what}: '{text}' has no UTC offset; add one, e.g. {text}+00:00")
    return dt
