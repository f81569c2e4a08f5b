"""Fixity records: when each blob's bytes were last re-hashed, from the signed ``verify`` events (custody.fixity)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .canonical import parse
from .db.models import Event, Item
from .log.authority import parse_time
from .timeutil import utc_now


@dataclass(frozen=True)
class Coverage:
    """How recently every blob's fixity was checked, from the signed fixity records."""

    blobs: int
    never: int  # blobs no passing fixity check covers yet
    oldest: str | None  # time of the least recent passing check, when every blob has one
    days: int | None  # whole days since ``oldest``
    last_run: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "blobs": self.blobs,
            "never_checked": self.never,
            "oldest_check": self.oldest,
            "within_days": self.days,
            "last_run": self.last_run,
        }

    def describe(self) -> str:
        if self.blobs == 0:
            return "no blobs to check"
        if self.never:
            return f"{self.never} of {self.blobs} blobs not yet re-hashed by a fixity check" + (
                f" (last run {self.last_run})" if self.last_run else "; run 'custody verify --fixity-budget 30m'"
            )
        return f"every blob re-hashed within the last {self.days} days (oldest check {self.oldest})"


def _fixity_events(session: Session) -> Iterator[tuple[str, list[dict[str, object]]]]:
    """(time, per-blob results) of every fixity record, newest first."""
    rows = session.connection().execute(
        select(Event.time, Event.payload)
        .where(Event.action == "verify")
        .order_by(Event.seq.desc())
        .execution_options(yield_per=200)
    )
    for when, text in rows:
        if '"fixity"' not in text:
            continue
        try:
            payload = parse(text)
        except ValueError:
            continue  # verify reports an unreadable payload
        results = payload.get("fixity") if isinstance(payload, dict) else None
        if isinstance(results, list):
            yield when, [r for r in results if isinstance(r, dict)]


def last_checks(session: Session, wanted: set[str]) -> tuple[dict[str, str], str | None]:
    """sha256 -> time of its latest passing fixity check (for blobs in ``wanted``), and the latest run's time.

    Reads fixity records newest first and stops once every wanted blob is found, so the cost is
    about one cycle of checks, not the archive's whole history.
    """
    found: dict[str, str] = {}
    last_run: str | None = None
    for when, results in _fixity_events(session):
        last_run = last_run or when
        for result in results:
            sha = result.get("sha256")
            if result.get("ok") is True and isinstance(sha, str) and sha in wanted and sha not in found:
                found[sha] = when
        if len(found) >= len(wanted):
            break
    return found, last_run


def coverage(session: Session) -> Coverage:
    """Fixity coverage of every item's blob."""
    shas = set(session.scalars(select(Item.sha256)))
    found, last_run = last_checks(session, shas)
    never = len(shas - set(found))
    oldest = min(found.values()) if found and not never else None
    days = None
    if oldest is not None:
        when = parse_time(oldest)
        days = (utc_now() - when).days if when is not None else None
    return Coverage(len(shas), never, oldest, days, last_run)
