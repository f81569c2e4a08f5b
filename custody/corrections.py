"""Provenance corrections: a signed ``correct`` event states a new value; the signed record never changes.

A mistyped ``--collected-at`` cannot be edited away (records and events are immutable). ``custody
correct ITEM --field F --value V --reason R`` appends a ``correct`` event naming the item; from that
event on, ``show``, reports and bundles display V as the current value of F, with the history of
values (the original, as signed at ingest, and each correction). This module reads corrections;
custody.correct appends them.

The value is committed exactly as a record commits its withholdable fields (custody.disclosure): the
event signs only the digest of a salted disclosure ``[salt, field, value]`` kept in the archive's
store, so a bundle that withholds F carries neither the old nor the new value, and one that reveals F
carries the disclosure, checked against the event's digest like any other (FORMATS.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from . import disclosure
from .log.logevent import LogEvent
from .store.base import BlobStore

CORRECT = "correct"
# Everything stated at ingest except the case (membership: `custody case add`) and the source path
# (what the file system said, not what a person stated).
CORRECTABLE: tuple[str, ...] = tuple(f for f in disclosure.FIELDS if f != "source_path")
TIMES = ("collected_at", "posted_at")


@dataclass(frozen=True)
class Correction:
    """One correction as people see it: which field, the value before and after, by whom, why."""

    seq: int
    time: str
    actor: str
    field: str
    previous: Any
    value: Any
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "field": self.field,
            "previous": self.previous,
            "value": self.value,
            "reason": self.reason,
        }


def apply(
    store: BlobStore,
    item_id: str,
    provenance: MutableMapping[str, Any],
    events: Iterable[LogEvent],
    withheld: Iterable[str] = (),
    marker: str = "[withheld]",
) -> tuple[list[Correction], dict[str, str]]:
    """Put each corrected field's current value into ``provenance`` (in place); the corrections, oldest first.

    ``withheld`` fields keep ``marker`` as value, previous value and current value: nothing about them
    is opened. Returns the corrections and the disclosure texts (digest -> text) of the fields not withheld,
    for a bundle to carry.
    """
    hidden = set(withheld)
    history: list[Correction] = []
    texts: dict[str, str] = {}
    for event in sorted((e for e in events if e.action == CORRECT and e.item == item_id), key=lambda e: e.seq):
        field = str(event.payload.get("field"))
        reason = str(event.payload.get("reason"))
        if field in hidden:
            history.append(Correction(event.seq, event.time, event.actor, field, marker, marker, reason))
            provenance[field] = marker
            continue
        found = disclosure.load(store, event.payload, f"{item_id} (correct event {event.seq})")
        value = found[field].value if field in found else None
        texts.update({d.digest: d.text for d in found.values()})
        history.append(Correction(event.seq, event.time, event.actor, field, provenance.get(field), value, reason))
        provenance[field] = value
    return history, texts


def corrected_fields(history: Iterable[Correction]) -> Mapping[str, Correction]:
    """field -> its latest correction."""
    return {c.field: c for c in history}
