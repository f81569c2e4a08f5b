"""Custody-log events: canonical form, signing, hash chain, and appending to the database."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..canonical import canonical_text
from ..db.models import Event, EventItem
from ..keys import Signer
from ..timeutil import iso, utc_now
from . import event_items, tree
from .authority import Identity, genesis
from .item_names import named_items
from .logevent import GENESIS_PREV, ChainSigningKey, Draft, LogEvent, canonical_pair, link_and_sign

__all__ = [
    "GENESIS_PREV",
    "LogEvent",
    "append",
    "append_many",
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
    return append_many(session, signer, [(action, payload, item)], now)[0]


def append_many(
    session: Session,
    signer: Signer,
    entries: Sequence[tuple[str, dict[str, object], str | None]],
    now: datetime | None = None,
) -> list[LogEvent]:
    """Sign and append events ``(action, payload, item)`` in order, inside the caller's write transaction.

    A key held by the unlock agent signs the whole chain in one request (custody.agent.AgentKey.sign_chain,
    which checks every signature it is given).
    """
    if not entries:
        return []
    previous = last_event(session)
    # The hash of the event this transaction appended last is remembered, not re-encoded.
    prev = GENESIS_PREV if previous is None else session.info.get(_LAST_HASH) or previous.chain_hash()
    first = previous.seq + 1 if previous else 0
    time = iso(now or utc_now())
    # Only the payload goes through the general encoder; the event around it is assembled.
    drafts = [
        Draft(first + n, time, signer.key_id, action, item, canonical_text(payload))
        for n, (action, payload, item) in enumerate(entries)
    ]
    appended = []
    key = signer.private_key
    if isinstance(key, ChainSigningKey):
        chain = key.sign_chain(drafts, prev)
    else:
        chain = link_and_sign(drafts, prev, signer.sign)
    for draft, (_, payload, _), linked in zip(drafts, entries, chain, strict=True):
        event = LogEvent(draft.seq, time, draft.actor, draft.action, draft.item, payload, linked.prev, linked.sig)
        session.add(
            Event(
                seq=draft.seq,
                time=time,
                actor=draft.actor,
                action=draft.action,
                item_id=draft.item,
                payload=draft.payload_jcs,
                prev=linked.prev,
                sig=linked.sig,
            )
        )
        event_items.link(session, draft.seq, named_items(draft.action, draft.item, payload))
        tree.append_leaf(session, draft.seq, linked.leaf)
        # Appends hold the archive-wide write lock, so nobody else can add an event before commit.
        session.info[_LAST] = event
        session.info[_LAST_HASH] = hashlib.sha256(linked.leaf).hexdigest()
        appended.append(event)
    return appended


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
