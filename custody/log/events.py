"""Custody-log events: canonical form, signing, hash chain, and appending to the database."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..canonical import canonical_text
from ..db.models import Event, EventItem
from ..keys import Signer, b64
from ..timeutil import iso, utc_now
from . import event_items, tree
from .authority import Identity, genesis
from .item_names import named_items
from .logevent import GENESIS_PREV, LogEvent, canonical_pair

__all__ = [
    "GENESIS_PREV",
    "LogEvent",
    "append",
    "archive_identity",
    "canonical_pair",
    "events_for",
    "last_event",
]

_LAST = "custody_last_event"
_LAST_HASH = "custody_last_event_hash"


def last_event(session: Session) -> LogEvent | None:
    """The newest event, or None for an empty log (remembered within a write transaction)."""
    if _LAST in session.info:
        cached: LogEvent = session.info[_LAST]
        return cached
    row = session.scalars(select(Event).order_by(Event.seq.desc()).limit(1)).first()
    return LogEvent.from_row(row) if row else None


def append(
    session: Session,
    signer: Signer,
    action: str,
    payload: dict[str, object],
    item: str | None = None,
    now: datetime | None = None,
) -> LogEvent:
    """Sign and append one event inside the caller's write transaction."""
    previous = last_event(session)
    # The hash of the event this transaction appended last is remembered, not re-encoded.
    prev = GENESIS_PREV if previous is None else session.info.get(_LAST_HASH) or previous.chain_hash()
    seq = previous.seq + 1 if previous else 0
    time = iso(now or utc_now())
    # Only the payload goes through the general encoder; the event around it is assembled.
    payload_jcs = canonical_text(payload)
    signed_part = canonical_pair(seq, time, signer.key_id, action, item, payload_jcs, prev, "")[0]
    sig = b64(signer.sign(signed_part))
    event = LogEvent(seq, time, signer.key_id, action, item, payload, prev, sig)
    session.add(
        Event(
            seq=seq,
            time=time,
            actor=event.actor,
            action=action,
            item_id=item,
            payload=payload_jcs,
            prev=prev,
            sig=sig,
        )
    )
    event_items.link(session, seq, named_items(action, item, payload))
    leaf_data = canonical_pair(seq, time, signer.key_id, action, item, payload_jcs, prev, sig)[1]
    tree.append_leaf(session, event.seq, leaf_data)
    # Appends hold the archive-wide write lock, so nobody else can add an event before commit.
    session.info[_LAST] = event
    session.info[_LAST_HASH] = hashlib.sha256(leaf_data).hexdigest()
    return event


def events_for(session: Session, item: str | None = None) -> list[LogEvent]:
    """Every event (naming one item, in ``item`` or payload, if given) in ``seq`` order."""
    query = select(Event).order_by(Event.seq)
    if item is not None:
        query = query.where(Event.seq.in_(select(EventItem.seq).where(EventItem.item_id == item)))
    return [LogEvent.from_row(row) for row in session.scalars(query)]


def archive_identity(session: Session) -> Identity:
    """The archive's identity from the verified genesis (events 0 and 1); IntegrityError if it does not verify."""
    rows = session.scalars(select(Event).where(Event.seq.in_((0, 1))).order_by(Event.seq)).all()
    found = {row.seq: LogEvent.from_row(row) for row in rows}
    return genesis(found.get(0), found.get(1))
