"""Incremental verification from a trusted checkpoint (``verify --since FILE``).

A verifier (or a witness) keeps a checkpoint note from an earlier run. The log up to that
checkpoint's size N was verified then; what is left to check is that the current log *extends* it
and that everything appended since is sound:

1. the kept note's signature (archive key of event 0), and that events 0 and 1 (the identity) are
   included in the kept tree;
2. the stored subtree hashes covering leaves [0, N) fold to the kept root (so the stored tree
   still holds the kept history), then the root at the current size is recomputed from them plus
   the new events' leaves, and a consistency proof from N to it is checked;
3. the authority state at N (keys, roles, revocations, rotations, the export policy, export
   requests and approvals) is rebuilt from the few events of those actions before N, each proven
   included in the kept tree by an inclusion proof, and event N-1 likewise (the chain continues
   from its hash);
4. every event from N on: sequence, chain, authority, signature; every checkpoint written since:
   signature, cosigner, root, consistency; the ``event_items`` rows of those events;
5. items ingested since: record signature, catalog columns, ingest binding, derivation link, and
   a re-hash of their blobs (and lock state).

The cost is proportional to what is new plus O(log N) per rebuilt state event. What this does not
re-check (it was checked when the kept checkpoint was): earlier events' rows, signatures and
blobs, and the catalog's completeness for rows the log does not account for; ``verify --all``
checks those, and rolling fixity (custody.fixity) keeps the old blobs re-hashed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from array import array
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from . import keys
from .archive import Acting, Archive
from .canonical import parse
from .checks import CheckKind, Report
from .db.models import CheckpointRow, Event, EventItem, Item
from .errors import CustodyError, InputError, ProofError
from .log import merkle, note, tree
from .log.authority import LIFECYCLE_ACTIONS, Authority
from .log.item_names import PAYLOAD_FIELDS, named_items
from .log.logevent import LogEvent, canonical_pair
from .log.sigcheck import Job, bad_signatures
from .roles import Permission

# Actions before the kept checkpoint that shape how later events are judged (custody.log.authority).
STATE_ACTIONS = frozenset(
    {
        "archive.init",
        "actor.add",
        *LIFECYCLE_ACTIONS,
        "configure",
        "export",
        "export.request",
        "export.approve",
        "export.reject",
    }
)
CHECK = CheckKind.SINCE  # the checks specific to incremental verification


@dataclass(frozen=True)
class Trusted:
    """The kept checkpoint: tree size and root."""

    size: int
    root: bytes
    label: str


@dataclass
class SinceResult:
    """The report, and the newest checkpoint this run verified (to keep for the next run)."""

    report: Report
    verified_note: str | None
    verified_size: int
    new_events: int
    new_items: int


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


def frontier_keys(size: int) -> list[tuple[int, int]]:
    """The stored perfect subtrees covering leaves [0, size), largest first (RFC 9162 decomposition)."""
    found: list[tuple[int, int]] = []
    pos = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            found.append((level, pos >> level))
            pos += 1 << level
    return found


class _Builder:
    """An RFC 9162 root builder resumed from the frontier of a trusted tree."""

    def __init__(self, size: int, frontier: Sequence[tuple[int, bytes]]) -> None:
        self._stack: list[tuple[int, bytes]] = list(frontier)
        self.size = size

    def add(self, leaf: bytes) -> None:
        level, acc = 0, leaf
        while self._stack and self._stack[-1][0] == level:
            acc = merkle.node_hash(self._stack.pop()[1], acc)
            level += 1
        self._stack.append((level, acc))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return merkle.EMPTY_ROOT
        acc = self._stack[-1][1]
        for _, h in reversed(self._stack[:-1]):
            acc = merkle.node_hash(h, acc)
        return acc


def read_trusted(text: str, label: str) -> int:
    """The tree size a kept checkpoint note states (its signature is checked later, with the archive key)."""
    try:
        return note.parse_checkpoint(text.split("\n\n", 1)[0] + "\n").size
    except ProofError as exc:
        raise InputError(
            f"{label}: not a checkpoint note ({exc}); keep the file 'verify --save-checkpoint' wrote"
        ) from exc


_COLUMNS = (Event.seq, Event.time, Event.actor, Event.action, Event.item_id, Event.payload, Event.prev, Event.sig)


def _row_event(row: Any) -> tuple[LogEvent, bytes, bytes]:
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


def _suppress() -> contextlib.suppress:
    """Skip one malformed row's optional step (the main checks report it)."""
    return contextlib.suppress(ValueError, KeyError, TypeError, AttributeError)


def _raw_sig(sig: str) -> bytes:
    try:
        return keys.unb64(sig)
    except ValueError:
        return b""


class _Since:
    """One incremental verification over one catalog snapshot."""

    def __init__(self, session: Session, archive: Archive, trusted_text: str, label: str, report: Report) -> None:
        self.session = session
        self.archive = archive
        self.text = trusted_text
        self.label = label
        self.report = report
        self.nodes = _CachedNodes(session)
        self.prefix_report = Report()
        self.authority = Authority(self.prefix_report)
        self.ingest_events: dict[str, LogEvent] = {}
        self.derives: list[LogEvent] = []
        self.roots: dict[int, bytes] = {}

    def fail(self, subject: str, detail: str, check: CheckKind = CHECK) -> None:
        self.report.add(check, subject, False, detail)

    # -- the kept checkpoint and the history before it ------------------------------------------

    def _prove(self, trusted: Trusted, full: bytes, seq: int) -> bool:
        proof = merkle.inclusion_proof(seq, trusted.size, self.nodes)
        return merkle.verify_inclusion(merkle.leaf_hash(full), seq, trusted.size, proof, trusted.root)

    def prefix(self, size: int) -> Trusted | None:
        """Rebuild the authority state at ``size`` from proven events; the kept checkpoint, once checked."""
        session = self.session
        # Two queries, each served by an index: (action, seq) and the primary key.
        conn = session.connection()
        rows = {
            row[0]: row
            for query in (
                select(*_COLUMNS).where(Event.action.in_(sorted(STATE_ACTIONS)), Event.seq < size),
                select(*_COLUMNS).where(Event.seq.in_((0, 1, size - 1))),
            )
            for row in conn.execute(query)
        }
        state_events = [_row_event(rows[seq]) for seq in sorted(rows)]
        authority = self.authority
        genesis: tuple[bytes, bytes] | None = None
        for event, unsigned, _full in state_events:
            authority.admit(event.seq, event.time, event.actor, event.action, event.item, event.payload)
            if event.seq == 0:
                genesis = (_raw_sig(event.sig), unsigned)
        init_key = authority.bootstrap_key()
        authority.confirm_genesis(
            genesis is not None and init_key is not None and not bad_signatures([(0, init_key, *genesis)])
        )
        if authority.identity is None:
            self.fail(self.label, "the archive's identity (events 0 and 1) does not verify; run 'custody verify --all'")
            return None
        try:
            cp = note.open_checkpoint(self.text, authority.identity.vkey)
        except ProofError as exc:
            self.fail(self.label, f"the kept checkpoint does not verify with this archive's key: {exc}")
            return None
        trusted = Trusted(cp.size, cp.root, self.label)
        by_seq = {event.seq: (event, full) for event, _u, full in state_events}
        if 0 not in by_seq or 1 not in by_seq or size - 1 not in by_seq:
            self.fail(self.label, f"events 0, 1 or {size - 1} are missing from the log")
            return None
        try:
            unproven = [seq for seq, (_e, full) in by_seq.items() if not self._prove(trusted, full, seq)]
        except CustodyError as exc:
            self.fail(self.label, f"the stored tree cannot prove the kept history: {exc}")
            return None
        if unproven:
            shown = ", ".join(str(s) for s in sorted(unproven)[:10])
            self.fail(
                self.label,
                f"event(s) {shown} before size {size} are not the events the kept checkpoint covers "
                "(rewritten history)",
            )
            return None
        self.report.checks.extend(self.prefix_report.failures)
        self.prev_hash = hashlib.sha256(by_seq[size - 1][1]).hexdigest()
        self.report.add(
            CHECK,
            self.label,
            True,
            f"kept checkpoint of {size} events verifies; {len(by_seq)} earlier events that shape authority "
            "are proven included in it",
        )
        return trusted

    def frontier(self, trusted: Trusted) -> _Builder | None:
        keys_ = frontier_keys(trusted.size)
        try:
            stored = self.nodes.get_nodes(keys_)
        except CustodyError as exc:
            self.fail("tree", str(exc), CheckKind.TREE)
            return None
        hashes = [(level, stored[(level, idx)]) for level, idx in keys_]
        builder = _Builder(trusted.size, hashes)
        if builder.root() != trusted.root:
            self.fail(
                "tree",
                f"the stored tree of the first {trusted.size} events differs from the kept checkpoint",
                CheckKind.TREE,
            )
            return None
        return builder

    # -- what is new --------------------------------------------------------------------------

    def walk(self, trusted: Trusted, builder: _Builder, wanted: set[int]) -> int:
        """Check every event from the kept size on; returns the current log size."""
        authority = self.authority
        authority.report = self.report
        self._preload_compromise(trusted.size)
        expected, prev_hash = trusted.size, self.prev_hash
        batch: list[Job] = []
        bad: list[int] = []
        rows = self.session.connection().execute(
            select(*_COLUMNS).where(Event.seq >= trusted.size).order_by(Event.seq).execution_options(yield_per=5000)
        )
        for row in rows:
            event, unsigned, full = _row_event(row)
            seq = event.seq
            if seq != expected:
                self.fail(
                    f"event {seq}",
                    f"expected seq {expected}, found {seq}: events are missing or reordered",
                    CheckKind.SEQUENCE,
                )
                expected = seq
            if event.prev != prev_hash:
                self.fail(
                    f"event {seq}",
                    "prev does not hash the preceding event: an event was removed, reordered or edited",
                    CheckKind.CHAIN,
                )
            raw_key = authority.admit(seq, event.time, event.actor, event.action, event.item, event.payload)
            if raw_key is not None:
                batch.append((seq, raw_key, _raw_sig(event.sig), unsigned))
            if event.action == "ingest" and event.item is not None:
                self.ingest_events.setdefault(event.item, event)
            elif event.action == "derive":
                self.derives.append(event)
            builder.add(merkle.leaf_hash(full))
            if builder.size in wanted:
                self.roots[builder.size] = builder.root()
            prev_hash = hashlib.sha256(full).hexdigest()
            expected += 1
        bad.extend(bad_signatures(batch))
        for seq in sorted(bad):
            self.fail(
                f"event {seq}", "signature does not verify with the actor's registered key", CheckKind.EVENT_SIGNATURE
            )
        new = builder.size - trusted.size
        if not bad:
            self.report.add(CheckKind.EVENT_SIGNATURE, "log", True, f"{new} new event signatures verify")
        self.roots[builder.size] = builder.root()
        return builder.size

    def _preload_compromise(self, size: int) -> None:
        """A revocation since the kept size may declare a compromise from an earlier event: those count too."""
        rows = self.session.execute(
            select(Event.payload).where(Event.seq >= size, Event.action == "actor.revoke")
        ).scalars()
        for text in rows:
            with _suppress():
                payload = parse(text)
                since, key_id = payload.get("compromised_since"), str(payload.get("key_id"))
                if isinstance(since, int) and since < size:
                    seqs = self.session.execute(
                        select(Event.seq).where(Event.actor == key_id, Event.seq >= since, Event.seq < size)
                    ).scalars()
                    signed = self.authority._signed.setdefault(key_id, array("q"))
                    signed.extend(int(s) for s in seqs)

    def consistency(self, trusted: Trusted, size: int) -> None:
        session = self.session
        stored_size = tree.tree_size(session)
        new_root = self.roots[size]
        if stored_size != size:
            self.fail("log", f"tree has {stored_size} leaves, log has {size} events", CheckKind.TREE)
            return
        try:
            stored_root = tree.root(session, size)
            proof = merkle.consistency_proof(trusted.size, size, self.nodes) if trusted.size < size else []
        except CustodyError as exc:
            self.fail("log", str(exc), CheckKind.TREE)
            return
        if stored_root != new_root:
            self.fail("log", "stored Merkle root differs from the root recomputed from the new events", CheckKind.TREE)
            return
        consistent = (trusted.size == size and trusted.root == new_root) or (
            trusted.size < size and merkle.verify_consistency(trusted.size, size, trusted.root, new_root, proof)
        )
        self.report.add(
            CheckKind.CONSISTENCY,
            self.label,
            consistent,
            f"the log of {size} events extends the kept checkpoint at size {trusted.size} (consistency proof)"
            if consistent
            else f"the log of {size} events does not extend the kept checkpoint at size {trusted.size}",
        )

    def checkpoints(self, trusted: Trusted, size: int) -> CheckpointRow | None:
        """Checkpoints written since the kept one; returns the newest that verified."""
        assert self.authority.identity is not None
        vkey = self.authority.identity.vkey
        rows = list(
            self.session.scalars(
                select(CheckpointRow).where(CheckpointRow.size >= trusted.size).order_by(CheckpointRow.num)
            )
        )
        good: CheckpointRow | None = None
        for row in rows:
            subject = f"checkpoint {row.num} (size {row.size})"
            try:
                cp = note.open_checkpoint(row.note, vkey)
            except ProofError as exc:
                self.fail(subject, str(exc), CheckKind.CHECKPOINT_SIGNATURE)
                continue
            problem = self.authority.cosigner_problem(row.note, cp.size)
            if problem:
                self.fail(subject, problem, CheckKind.CHECKPOINT_SIGNATURE)
            elif cp.size > size:
                self.fail(subject, f"covers {cp.size} events but the log has only {size}", CheckKind.CHECKPOINT)
            elif (trusted.root if cp.size == trusted.size else self.roots.get(cp.size)) != cp.root:
                self.fail(subject, "signed root differs from the root recomputed from the events", CheckKind.CHECKPOINT)
            else:
                good = row
        if good is None or good.size != size:
            self.fail(
                "log",
                f"the latest checkpoint covers {good.size if good else trusted.size} of {size} events",
                CheckKind.CHECKPOINT_LATEST,
            )
        elif not any(c.check.startswith("checkpoint") for c in self.report.failures):
            self.report.add(
                CheckKind.CHECKPOINT, "log", True, f"{len(rows)} checkpoints since the kept one signed and consistent"
            )
        return good

    def event_items(self, size: int) -> None:
        """The ``event_items`` rows of the new events are exactly what they name."""
        session = self.session
        implied: dict[int, set[str]] = {}
        rows = session.connection().execute(
            select(Event.seq, Event.action, Event.item_id, Event.payload).where(Event.seq >= size)
        )
        for seq, action, item, payload_text in rows:
            payload: object = {}
            if action in PAYLOAD_FIELDS:
                with _suppress():
                    payload = parse(payload_text)
            names = named_items(action, item, payload if isinstance(payload, dict) else {})
            if names:
                implied[seq] = set(names)
        stored: dict[int, set[str]] = {}
        for seq, item_id in session.connection().execute(
            select(EventItem.seq, EventItem.item_id).where(EventItem.seq >= size)
        ):
            stored.setdefault(seq, set()).add(item_id)
        problems = 0
        for seq in sorted(set(implied) | set(stored)):
            want, have = implied.get(seq, set()), stored.get(seq, set())
            for item in sorted(want - have):
                problems += 1
                self.fail(
                    f"event_items seq {seq} item {item}",
                    "the event names this item but the table has no row",
                    CheckKind.EVENT_ITEMS,
                )
            for item in sorted(have - want):
                problems += 1
                self.fail(
                    f"event_items seq {seq} item {item}",
                    "row names an item the event does not name",
                    CheckKind.EVENT_ITEMS,
                )
        if not problems:
            self.report.add(
                CheckKind.EVENT_ITEMS, "log", True, f"{sum(map(len, implied.values()))} item links of new events match"
            )

    def new_items(self) -> list[Item]:
        ids = sorted(self.ingest_events)
        found = {
            item.item_id: item
            for start in range(0, len(ids), 500)
            for item in self.session.scalars(select(Item).where(Item.item_id.in_(ids[start : start + 500])))
        }
        for item_id in ids:
            if item_id not in found:
                event = self.ingest_events[item_id]
                self.fail(
                    item_id,
                    f"ingest event {event.seq} created it, but table items has no row for it",
                    CheckKind.ITEM_MISSING,
                )
        return [found[i] for i in ids if i in found]

    def source_ingests(self, items: Sequence[Item], trusted: Trusted) -> None:
        """Working copies made since whose source is older: its ingest event, proven included, binds its record."""
        for item in items:
            with _suppress():
                link = parse(item.record).get("derived_from")
                source = str(link.get("item_id")) if isinstance(link, dict) else None
                if source is None or source in self.authority.ingests:
                    continue
                row = (
                    self.session.connection()
                    .execute(
                        select(*_COLUMNS).where(
                            Event.item_id == source, Event.action == "ingest", Event.seq < trusted.size
                        )
                    )
                    .first()
                )
                if row is None:
                    continue
                event, _u, full = _row_event(row)
                if self._prove(trusted, full, event.seq):
                    self.authority.ingests[source] = (event.actor, str(event.payload.get("record_sha256")))
                    self.authority.ingest_times[source] = event.time


def verify_since(acting: Acting, trusted_text: str, label: str) -> SinceResult:
    """Verify what was added after a kept checkpoint (see the module docstring); the run is logged as ``verify``."""
    from .log.state import LogState
    from .logwalk import check_actors
    from .verify import _bad_record_signatures, _check_derivations, _check_record, _rehash

    size = read_trusted(trusted_text, label)
    acting.unlock_for_reading()
    acting.require(Permission.VERIFY)
    archive = acting.archive
    report = Report()
    verified_note: str | None = None
    current = size
    items: list[Item] = []
    checked = False
    with archive.db.snapshot() as session:
        total = session.scalar(select(func.count()).select_from(Event)) or 0
        if size > total:
            report.add(
                CheckKind.AGAINST_CHECKPOINT,
                label,
                False,
                f"log was truncated: it has {total} events, the kept checkpoint covers {size}",
            )
        elif size < 2:
            raise InputError(f"{label}: a checkpoint of {size} events is too small to continue from; run verify --all")
        else:
            run = _Since(session, archive, trusted_text, label, report)
            trusted = run.prefix(size)
            builder = run.frontier(trusted) if trusted is not None else None
            if trusted is not None and builder is not None:
                checked = True
                wanted = {int(s) for s in session.scalars(select(CheckpointRow.size).where(CheckpointRow.size > size))}
                try:
                    current = run.walk(trusted, builder, wanted)
                    run.consistency(trusted, current)
                    good = run.checkpoints(trusted, current)
                    verified_note = good.note if good is not None and good.size == current else None
                    run.event_items(size)
                    items = run.new_items()
                    run.source_ingests(items, trusted)
                except (CustodyError, SQLAlchemyError, ValueError, KeyError, TypeError) as exc:
                    report.add(CheckKind.LOG, "log", False, f"the new events could not be checked: {exc}")
                state = LogState(run.authority)
                check_actors(session, state, report)
                bad = _bad_record_signatures(items, state)
                for index, item in enumerate(items):
                    _check_record(item, index not in bad, state, report)
                state.events_by_action["derive"] = run.derives
                _check_derivations(session, items, state, report)
                with ThreadPoolExecutor() as pool:
                    for checks in pool.map(lambda it: _rehash(archive, it, None), items):
                        report.checks.extend(checks)
    if checked:
        report.add(
            CheckKind.SCOPE,
            label,
            True,
            f"checked events {size}..{current - 1} and {len(items)} items added since the kept checkpoint; earlier "
            "events, items and blobs were verified when it was kept ('verify --all' re-checks everything)",
        )
    _log(acting, report, size, current, len(items), verified_note)
    return SinceResult(report, verified_note if report.ok else None, current, current - size, len(items))


_LOG_CHECKS = (
    "sequence",
    "chain",
    "event-signature",
    "tree",
    "checkpoint",
    "against-checkpoint",
    "log",
    CHECK,
    "consistency",
)


def _log(acting: Acting, report: Report, size: int, current: int, items: int, verified_note: str | None) -> None:
    damaged = sorted({c.check for c in report.failures if c.check.startswith(_LOG_CHECKS)})
    if damaged:
        report.add(
            CheckKind.VERIFY_LOGGED,
            "log",
            False,
            "this verification was not logged: the log itself failed (" + ", ".join(damaged) + ")",
        )
        return
    payload = {
        "scope": "since",
        "since": size,
        "to": current,
        "items": items,
        "ok": report.ok,
        "failures": [f"{c.check}:{c.subject}" for c in report.failures][:100],
    }
    from .verify import append_verify_event

    append_verify_event(acting, payload, report)


def save_checkpoint(path: Path, note_text: str) -> int:
    """Write a verified checkpoint note to ``path`` whole (temp file, then rename); returns its tree size."""
    size = note.parse_checkpoint(note_text.split("\n\n", 1)[0] + "\n").size
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(note_text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(
            f"{path}: cannot write the checkpoint ({exc.strerror or exc}); choose a writable file"
        ) from exc
    return size
