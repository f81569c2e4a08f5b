"""Finding items: filters over signed records and log events, combined with AND.

One query serves ``list`` (and its ``search`` alias), ``get`` and ``export``: what a user selects to
look at is exactly what a bulk action takes out. Every filter reads signed data only: the record
(media type, flags, ingest time, capture time, tags given at ingest), the log (``annotate`` events'
text and tags, ``case.add`` through the ``item_cases`` table that ``verify --all`` checks against
the signed data) and the disclosures of the withheld fields (collector, platform: opened from the
archive's store, corrected values included, as ``show`` displays them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import disclosure
from .archive import Acting
from .canonical import parse
from .db.models import Event, Item, ItemCase
from .errors import InputError
from .log.events import LogEvent
from .metadata.flags import FlagCode
from .roles import Permission
from .store.base import BlobStore

_ITEM_ID = re.compile(r"EV-\d{6,}", re.IGNORECASE)


def normalise_id(item_id: str) -> str:
    """An item id as the archive spells it (``ev-000001`` -> ``EV-000001``); other text unchanged."""
    return item_id.upper() if _ITEM_ID.fullmatch(item_id.strip()) else item_id


@dataclass(frozen=True)
class Query:
    """What to select. Empty fields do not filter; every given one must hold (AND); a list field holds
    when any of its values does (OR within one filter)."""

    cases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    media_types: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    collected_by: str | None = None
    platform: str | None = None
    text: str | None = None
    captured_from: str | None = None
    captured_to: str | None = None
    ingested_from: str | None = None
    ingested_to: str | None = None
    items: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        """True when nothing selects: no filter and no item named (``exclude`` alone selects nothing)."""
        return not any(getattr(self, f.name) for f in fields(self) if f.name != "exclude")

    def describe(self) -> str:
        """The query in words, for confirmations and logged payloads."""
        parts = [f"{f.name}={v!s}" if not isinstance(v, tuple) else f"{f.name}={','.join(v)}"
                 for f in fields(self) if (v := getattr(self, f.name))]  # fmt: skip
        return "; ".join(parts) or "(everything)"

    def to_json(self) -> dict[str, object]:
        return {f.name: (list(v) if isinstance(v, tuple) else v) for f in fields(self) if (v := getattr(self, f.name))}


def _bound(text: str | None, what: str, end: bool) -> datetime | None:
    """A date (the whole day, UTC) or an ISO time with offset, as a UTC instant."""
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.min, UTC)
            return moment + timedelta(days=1, microseconds=-1) if end else moment
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{what}: '{text}' is not a date (2026-03-01) or an ISO 8601 time with offset") from None
    if moment.tzinfo is None:
        raise InputError(f"{what}: '{text}' has no UTC offset; add one, e.g. {text}+00:00, or give a date")
    return moment.astimezone(UTC)


def _instant(value: object) -> datetime | None:
    """A recorded time as a UTC instant; a time without offset (capture zone unknown) is read as UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _within(value: object, lower: datetime | None, upper: datetime | None) -> bool:
    if lower is None and upper is None:
        return True
    moment = _instant(value)
    if moment is None:
        return False
    return (lower is None or moment >= lower) and (upper is None or moment <= upper)


@dataclass
class _Facts:
    """What the filters look at, per item."""

    record: dict[str, Any]
    tags: set[str] = field(default_factory=set)
    texts: list[str] = field(default_factory=list)


def annotations_of(session: Session, items: Iterable[str], by_item: int = 20_000) -> dict[str, list[LogEvent]]:
    """The ``annotate`` and ``acquire`` events (tags given at a later ingest of the same bytes) of the items.

    Up to ``by_item`` items, each item's own events are read; above it, every such event once.
    """
    wanted = sorted(set(items))
    actions = ("annotate", "acquire")
    if len(wanted) > by_item:
        # Most of the catalog: one pass over these actions (index ix_events_action_seq).
        chunks = [select(Event).where(Event.action.in_(actions)).order_by(Event.seq)]
    else:
        # A case or a few items: their own events only (index ix_events_item_id), not every annotation.
        # The action is checked here, not in SQL: given both, SQLite walks the action's index instead.
        chunks = [
            select(Event).where(Event.item_id.in_(wanted[start : start + _BATCH]))
            for start in range(0, len(wanted), _BATCH)
        ]
    held = set(wanted)
    rows = [row for stmt in chunks for row in session.scalars(stmt) if row.item_id in held and row.action in actions]
    found: dict[str, list[LogEvent]] = {}
    for row in sorted(rows, key=lambda r: r.seq):
        found.setdefault(str(row.item_id), []).append(LogEvent.from_row(row))
    return found


_BATCH = 500  # item ids per IN (...) query: well under every database's limit on bound parameters


def _stated(store: BlobStore, session: Session, item_id: str, record: Mapping[str, object]) -> dict[str, object]:
    """The item's provenance as ``show`` gives it: opened from its disclosures, corrections applied."""
    from .corrections import CORRECT, apply

    provenance = dict(disclosure.opened(store, record, item_id)["provenance"])
    events = [
        LogEvent.from_row(row)
        for row in session.scalars(select(Event).where(Event.action == CORRECT, Event.item_id == item_id))
    ]
    apply(store, item_id, provenance, events)
    return provenance


def _contains(value: object, needle: str) -> bool:
    return isinstance(value, str) and needle.casefold() in value.casefold()


def select_items(acting: Acting, query: Query, permission: Permission = Permission.VIEW) -> list[str]:
    """The item ids ``query`` selects, in id order; InputError for an unknown case, flag or item named."""
    acting.require(permission)
    captured = (_bound(query.captured_from, "--captured-from", False), _bound(query.captured_to, "--captured-to", True))
    ingested = (_bound(query.ingested_from, "--ingested-from", False), _bound(query.ingested_to, "--ingested-to", True))
    named = [normalise_id(i) for i in query.items]
    excluded = {normalise_id(i) for i in query.exclude}
    # A mistyped flag would select nothing, and read as "no item carries this warning".
    unknown_flags = sorted(set(query.flags) - {code.value for code in FlagCode})
    if unknown_flags:
        known = ", ".join(code.value for code in FlagCode)
        raise InputError(f"--flag {', '.join(unknown_flags)}: no such flag; the flags are {known}")
    with acting.archive.db.read() as session:
        unknown_cases = [c for c in query.cases if session.scalar(select(ItemCase.item_id).where(
            ItemCase.case_id == c).limit(1)) is None]  # fmt: skip
        if unknown_cases:
            listed = ", ".join(repr(c) for c in unknown_cases)
            raise InputError(f"no case {listed} in this archive; 'custody cases' lists them")
        stmt = select(Item).order_by(Item.num)
        if named:
            stmt = stmt.where(Item.item_id.in_(named))
        if query.cases:
            stmt = stmt.where(Item.item_id.in_(select(ItemCase.item_id).where(ItemCase.case_id.in_(query.cases))))
        rows = list(session.scalars(stmt))
        if named:
            held = {r.item_id for r in rows}
            missing = [i for i in named if i not in held and session.get(Item, i) is None]
            if missing:
                raise InputError(f"no item {', '.join(missing)} in this archive; 'custody list' shows the ids")
        # A mistyped --exclude would otherwise leave in (and disclose) the very item it was meant to hold back.
        unknown = sorted(i for i in excluded if session.get(Item, i) is None)
        if unknown:
            raise InputError(f"--exclude {', '.join(unknown)}: no such item in this archive; nothing was done")
        facts = {r.item_id: _Facts(parse(r.record)) for r in rows if r.item_id not in excluded}
        if query.tags or query.text:
            for item_id, events in annotations_of(session, facts).items():
                superseded = {e.payload.get("supersedes") for e in events}
                for e in events:
                    if e.action == "acquire":
                        acquisition = e.payload.get("acquisition") or {}
                        facts[item_id].tags.update(str(t) for t in acquisition.get("tags") or [])
                        continue
                    if e.seq in superseded:
                        continue
                    facts[item_id].tags.update(str(t) for t in e.payload.get("tags") or [])
                    facts[item_id].texts.append(str(e.payload.get("text") or ""))
        selected = []
        for item_id, f in facts.items():
            rec = f.record
            tags = f.tags | {str(t) for t in rec.get("tags") or []}
            if query.tags and not {t.casefold() for t in query.tags} & {t.casefold() for t in tags}:
                continue
            if query.text and not any(_contains(t, query.text) for t in f.texts):
                continue
            if query.media_types and not any(
                str(rec.get("media_type", "")).startswith(m if "/" in m else m.rstrip("/") + "/")
                for m in query.media_types
            ):
                continue
            codes = {str(fl.get("code")) for fl in rec.get("flags") or [] if isinstance(fl, dict)}
            if query.flags and not codes & set(query.flags):
                continue
            if not _within((rec.get("metadata") or {}).get("captured_at"), *captured):
                continue
            if not _within(rec.get("ingested_at"), *ingested):
                continue
            if query.collected_by or query.platform:
                stated = _stated(acting.archive.store, session, item_id, rec)
                if query.collected_by and not _contains(stated.get("collected_by"), query.collected_by):
                    continue
                if query.platform and not _contains(stated.get("platform"), query.platform):
                    continue
            selected.append(item_id)
    return selected


def search(acting: Acting, query: Query) -> list[str]:
    """``select_items`` for people (``list``/``search``); a search by filters is logged (a signed ``view`` event).

    What someone looked for (a collector's name, a date range, a tag) says what they were after: a filtered
    search is logged with its query and the number of items found, as ``show`` logs a record's display.
    A plain listing (no filter, no item named) shows only the catalog every actor with the view
    permission may browse, and is not logged (README: "Which reads are logged").
    """
    if query.is_empty() and not query.exclude:
        return select_items(acting, query)
    acting.unlock()
    found = select_items(acting, query)
    with acting.writing() as session:
        acting.append(session, "view", {"kind": "search", "query": query.to_json(), "found": len(found)})
    return found


def records_of(acting: Acting, item_ids: Sequence[str]) -> list[dict[str, Any]]:
    """``{record, signature, signer, cases}`` of each item, in the given order (``show --json`` adds sections)."""
    with acting.archive.db.read() as session:
        rows = {r.item_id: r for r in session.scalars(select(Item).where(Item.item_id.in_(list(item_ids))))}
        cases: dict[str, list[str]] = {}
        for item_id, case in session.execute(
            select(ItemCase.item_id, ItemCase.case_id).where(ItemCase.item_id.in_(list(item_ids)))
        ):
            cases.setdefault(str(item_id), []).append(str(case))
    return [
        {
            "record": parse(rows[i].record),
            "signature": rows[i].signature,
            "signer": rows[i].signer_key_id,
            "cases": sorted(cases.get(i, [])),
        }
        for i in item_ids
    ]


def check_signed_cases(acting: Acting, cases: Sequence[str]) -> None:
    """Refuse (IntegrityError, exit 1) a bulk action on a case whose catalog membership differs from the signed data
    (custody.catalog_check.check_case_is_signed, with the case's rows in table item_cases)."""
    from .catalog_check import check_case_is_signed

    with acting.archive.db.read() as session:
        for case in cases:
            table = set(session.scalars(select(ItemCase.item_id).where(ItemCase.case_id == case)))
            check_case_is_signed(session, case, table)


@dataclass(frozen=True)
class CaseSummary:
    """One case with its counts."""

    case: str
    items: int
    bytes: int

    def to_json(self) -> dict[str, object]:
        return {"case": self.case, "items": self.items, "bytes": self.bytes}


def list_cases(acting: Acting) -> list[CaseSummary]:
    """Every case with the number of its items and their total size, by case id."""
    acting.require(Permission.VIEW)
    with acting.archive.db.read() as session:
        rows = session.execute(
            select(ItemCase.case_id, func.count(Item.item_id), func.coalesce(func.sum(Item.size), 0))
            .join(Item, Item.item_id == ItemCase.item_id)
            .group_by(ItemCase.case_id)
            .order_by(ItemCase.case_id)
        )
        return [CaseSummary(str(c), int(n), int(b)) for c, n, b in rows]
