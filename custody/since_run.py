"""One run of ``verify --since`` (custody.incremental): its shared state, and the log rows it reads.

The kept checkpoint (custody.kept_checkpoint), the events appended since (custody.since_events) and
the items ingested since (custody.since_items) are checked in turn against one ``SinceRun``: they
share its catalog snapshot, its report, the authority state rebuilt from the proven history and
the stored subtree hashes read so far.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from . import keys
from .canonical import parse
from .checks import CheckKind, Report
from .db.models import Event
from .log import merkle, tree
from .log.authority import Authority
from .log.logevent import LogEvent, canonical_pair

CHECK = CheckKind.SINCE  # the checks specific to incremental verification

EVENT_COLUMNS = (Event.seq, Event.time, Event.actor, Event.action, Event.item_id, Event.payload, Event.prev, Event.sig)
"""The columns of an event row, in the order :func:`row_event` reads them."""


@dataclass(frozen=True)
class Trusted:
    """The kept checkpoint: tree size and root."""

    size: int
    root: bytes
    label: str


class _CachedNodes:
    """Stored subtree hashes, each read once (many inclusion proofs share their upper nodes)."""

    def __init__(self, session: Session) -> None:
        self._db = tree.DbNodes(session)
        self._cache: dict[tuple[int, int], bytes] = {}

    def get_nodes(self, keys_: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        wanted = [k for k in keys_ if k not in self._cache]
        if wanted:
            self._cache.update(self._db.get_nodes(wanted))
        return {k: self._cache[k] for k in keys_}


def row_event(row: Any) -> tuple[LogEvent, bytes, bytes]:
    """The event of a row of :data:`EVENT_COLUMNS`, with its unsigned and full canonical bytes."""
    seq, time, actor, action, item, payload_text, prev, sig = row
    unsigned, full = canonical_pair(seq, time, actor, action, item, payload_text, prev, sig)
    try:
        payload = parse(payload_text)
    except ValueError:
        payload = None
    return (
        LogEvent(seq, time, actor, action, item, payload if isinstance(payload, dict) else {}, prev, sig),
        unsigned,
        full,
    )


def suppress_malformed() -> contextlib.suppress:
    """Skip one malformed row's optional step (the main checks report it)."""
    return contextlib.suppress(ValueError, KeyError, TypeError, AttributeError)


def raw_sig(sig: str) -> bytes:
    """The signature bytes of an event's ``sig`` field (empty when it is not base64, so it fails to verify)."""
    try:
        return keys.unb64(sig)
    except ValueError:
        return b""


class SinceRun:
    """One incremental verification over one catalog snapshot."""

    def __init__(self, session: Session, trusted_text: str, label: str, report: Report) -> None:
        self.session = session
        self.text = trusted_text
        self.label = label
        self.report = report
        self.nodes = _CachedNodes(session)
        # The events before the kept size were checked when it was kept: only their failures that
        # shape authority are carried into the report (custody.kept_checkpoint).
        self.prefix_report = Report()
        self.authority = Authority(self.prefix_report)
        self.ingest_events: dict[str, LogEvent] = {}
        self.derives: list[LogEvent] = []
        # New events that keep withheld values in a blob of their own (their values are checked as verify --all does).
        self.with_values: dict[str, list[LogEvent]] = {"acquire": [], "correct": []}
        self.roots: dict[int, bytes] = {}
        self.prev_hash = ""  # the chain hash of the last event of the kept checkpoint, once proven

    def fail(self, subject: str, detail: str, check: CheckKind = CHECK) -> None:
        """Add a failed check to the report."""
        self.report.add(check, subject, False, detail)

    def prove(self, trusted: Trusted, full: bytes, seq: int) -> bool:
        """Whether the event of canonical bytes ``full`` is leaf ``seq`` of the kept tree (inclusion proof).

        Raises:
            CustodyError: the stored tree lacks a node the proof needs.
        """
        proof = merkle.inclusion_proof(seq, trusted.size, self.nodes)
        return merkle.verify_inclusion(merkle.leaf_hash(full), seq, trusted.size, proof, trusted.root)
