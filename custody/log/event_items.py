"""Which items each event names, kept in the append-only ``event_items`` table and checked against the log.

An event names an item in its ``item`` field or in its payload (an export's items, a verify's
scope, an import's mapping to our items). ``log ITEM``, ``show`` and every later bundle of an
item read this table, so each earlier disclosure or verification of the item is shown with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from ..canonical import parse
from ..checks import CheckKind
from ..db.models import Event, EventItem
from .item_names import PAYLOAD_FIELDS, named_items

if TYPE_CHECKING:
    from ..checks import Report

_SHOWN = 100  # named failures listed one by one; more are counted


_PENDING = "custody_pending_links"


def link(session: Session, seq: int, item_ids: Iterable[str]) -> None:
    """Add the rows of event ``seq`` (inside the transaction that appends it).

    They are written with the event when the session flushes, in one multi-row insert: plain
    rows cost an append much less than ORM objects.
    """
    session.info.setdefault(_PENDING, []).extend({"seq": seq, "item_id": item_id} for item_id in item_ids)


@event.listens_for(Session, "after_flush")
def _write_links(session: Session, _context: object) -> None:
    # The event rows of these links were just flushed; any query of the session flushes first,
    # so the links are visible wherever their events are.
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.connection().execute(insert(EventItem), pending)


def _implied(session: Session) -> Iterator[tuple[int, set[str]]]:
    """(seq, items) for every event naming items, in seq order, from the events themselves."""
    rows = session.connection().execute(
        select(Event.seq, Event.action, Event.item_id, Event.payload)
        .order_by(Event.seq)
        .execution_options(yield_per=5000)
    )
    for seq, action, item, payload_text in rows:
        if item is None and action not in PAYLOAD_FIELDS:
            continue
        try:
            payload = parse(payload_text) if action in PAYLOAD_FIELDS else {}
        except ValueError:
            payload = {}  # the log walk reports an unreadable payload; it names no items here
        names = named_items(action, item, payload if isinstance(payload, dict) else {})
        if names:
            yield seq, set(names)


def _stored(session: Session) -> Iterator[tuple[int, set[str]]]:
    """(seq, items) as the table holds them, in seq order."""
    rows = session.connection().execute(
        select(EventItem.seq, EventItem.item_id).order_by(EventItem.seq).execution_options(yield_per=5000)
    )
    current: tuple[int, set[str]] | None = None
    for seq, item_id in rows:
        if current is not None and current[0] == seq:
            current[1].add(item_id)
            continue
        if current is not None:
            yield current
        current = (seq, {item_id})
    if current is not None:
        yield current


def check_event_items(session: Session, report: Report) -> None:
    """The ``event_items`` table holds exactly the links the events imply, in both directions.

    A missing, added or edited row is a named failure (check ``event-items``, subject
    ``event_items seq S item I``).
    """
    problems: list[tuple[int, str, str]] = []
    implied, stored = _implied(session), _stored(session)
    want, have = next(implied, None), next(stored, None)
    links = 0
    while want is not None or have is not None:
        if have is None or (want is not None and want[0] < have[0]):
            assert want is not None
            problems += [(want[0], i, "the event names this item but the table has no row") for i in sorted(want[1])]
            links += len(want[1])
            want = next(implied, None)
        elif want is None or have[0] < want[0]:
            problems += [(have[0], i, "row names an item no event names at this seq") for i in sorted(have[1])]
            have = next(stored, None)
        else:
            links += len(want[1])
            problems += [
                (want[0], i, "the event names this item but the table has no row") for i in sorted(want[1] - have[1])
            ]
            problems += [(have[0], i, "row names an item the event does not name") for i in sorted(have[1] - want[1])]
            want, have = next(implied, None), next(stored, None)
    for seq, item, detail in problems[:_SHOWN]:
        report.add(CheckKind.EVENT_ITEMS, f"event_items seq {seq} item {item}", False, detail)
    if len(problems) > _SHOWN:
        report.add(
            CheckKind.EVENT_ITEMS, "event_items", False, f"{len(problems) - _SHOWN} more rows differ from the log"
        )
    if not problems:
        report.add(
            CheckKind.EVENT_ITEMS, "event_items", True, f"{links} links of events to the items they name match the log"
        )
