"""The items ingested since the kept checkpoint (step 5 of custody.incremental).

Which catalog rows the new ingest events account for, and, for working copies made since from an
older source, the source's ingest event proven included in the kept tree so the derivation link
can be checked against the record it binds.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from .canonical import parse
from .checks import CheckKind
from .db.models import Event, Item
from .since_run import EVENT_COLUMNS, SinceRun, Trusted, row_event, suppress_malformed


def new_items(run: SinceRun) -> list[Item]:
    """The catalog rows of the items the new ingest events created (a missing row is a failed check)."""
    ids = sorted(run.ingest_events)
    found = {
        item.item_id: item
        for start in range(0, len(ids), 500)
        for item in run.session.scalars(select(Item).where(Item.item_id.in_(ids[start : start + 500])))
    }
    for item_id in ids:
        if item_id not in found:
            event = run.ingest_events[item_id]
            run.fail(
                item_id,
                f"ingest event {event.seq} created it, but table items has no row for it",
                CheckKind.ITEM_MISSING,
            )
    return [found[i] for i in ids if i in found]


def source_ingests(run: SinceRun, items: Sequence[Item], trusted: Trusted) -> None:
    """Working copies made since whose source is older: its ingest event, proven included, binds its record."""
    for item in items:
        with suppress_malformed():
            link = parse(item.record).get("derived_from")
            source = str(link.get("item_id")) if isinstance(link, dict) else None
            if source is None or source in run.authority.ingests:
                continue
            row = (
                run.session.connection()
                .execute(
                    select(*EVENT_COLUMNS).where(
                        Event.item_id == source, Event.action == "ingest", Event.seq < trusted.size
                    )
                )
                .first()
            )
            if row is None:
                continue
            event, _u, full = row_event(row)
            if run.prove(trusted, full, event.seq):
                run.authority.ingests[source] = (event.actor, str(event.payload.get("record_sha256")))
                run.authority.ingest_times[source] = event.time
