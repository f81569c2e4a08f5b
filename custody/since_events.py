"""The events appended since the kept checkpoint (step 4 of custody.incremental).

Each new event's sequence, chain, authority and signature; the log's consistency with the kept
checkpoint; every checkpoint written since (signature, cosigner, root); and the ``event_items``
rows of the new events.
"""

from __future__ import annotations

import hashlib
from array import array

from sqlalchemy import select

from .canonical import parse
from .checks import CheckKind
from .db.models import CheckpointRow, Event, EventItem
from .errors import CustodyError, ProofError
from .log import merkle, note, tree
from .log.item_names import PAYLOAD_FIELDS, named_items
from .log.sigcheck import Job, bad_signatures
from .since_run import EVENT_COLUMNS, SinceRun, Trusted, raw_sig, row_event, suppress_malformed


def walk_new_events(run: SinceRun, trusted: Trusted, builder: merkle.RootBuilder, wanted: set[int]) -> int:
    """Check every event from the kept size on; returns the current log size."""
    authority = run.authority
    authority.report = run.report
    _preload_compromise(run, trusted.size)
    expected, prev_hash = trusted.size, run.prev_hash
    batch: list[Job] = []
    bad: list[int] = []
    rows = run.session.connection().execute(
        select(*EVENT_COLUMNS).where(Event.seq >= trusted.size).order_by(Event.seq).execution_options(yield_per=5000)
    )
    for row in rows:
        event, unsigned, full = row_event(row)
        seq = event.seq
        if seq != expected:
            run.fail(
                f"event {seq}",
                f"expected seq {expected}, found {seq}: events are missing or reordered",
                CheckKind.SEQUENCE,
            )
            expected = seq
        if event.prev != prev_hash:
            run.fail(
                f"event {seq}",
                "prev does not hash the preceding event: an event was removed, reordered or edited",
                CheckKind.CHAIN,
            )
        raw_key = authority.admit(seq, event.time, event.actor, event.action, event.item, event.payload)
        if raw_key is not None:
            batch.append((seq, raw_key, raw_sig(event.sig), unsigned))
        if event.action == "ingest" and event.item is not None:
            run.ingest_events.setdefault(event.item, event)
        elif event.action == "derive":
            run.derives.append(event)
        elif event.action in run.with_values:
            run.with_values[event.action].append(event)
        builder.add(merkle.leaf_hash(full))
        if builder.size in wanted:
            run.roots[builder.size] = builder.root()
        prev_hash = hashlib.sha256(full).hexdigest()
        expected += 1
    bad.extend(bad_signatures(batch))
    for seq in sorted(bad):
        run.fail(f"event {seq}", "signature does not verify with the actor's registered key", CheckKind.EVENT_SIGNATURE)
    new = builder.size - trusted.size
    if not bad:
        run.report.add(CheckKind.EVENT_SIGNATURE, "log", True, f"{new} new event signatures verify")
    run.roots[builder.size] = builder.root()
    return builder.size


def _preload_compromise(run: SinceRun, size: int) -> None:
    """A revocation since the kept size may declare a compromise from an earlier event: those count too."""
    rows = run.session.execute(select(Event.payload).where(Event.seq >= size, Event.action == "actor.revoke")).scalars()
    for text in rows:
        with suppress_malformed():
            payload = parse(text)
            since, key_id = payload.get("compromised_since"), str(payload.get("key_id"))
            if isinstance(since, int) and since < size:
                seqs = run.session.execute(
                    select(Event.seq).where(Event.actor == key_id, Event.seq >= since, Event.seq < size)
                ).scalars()
                signed = run.authority._signed.setdefault(key_id, array("q"))
                signed.extend(int(s) for s in seqs)


def check_consistency(run: SinceRun, trusted: Trusted, size: int) -> None:
    """The stored tree at ``size`` is the recomputed one, and extends the kept tree (consistency proof)."""
    session = run.session
    stored_size = tree.tree_size(session)
    new_root = run.roots[size]
    if stored_size != size:
        run.fail("log", f"tree has {stored_size} leaves, log has {size} events", CheckKind.TREE)
        return
    try:
        stored_root = tree.root(session, size)
        proof = merkle.consistency_proof(trusted.size, size, run.nodes) if trusted.size < size else []
    except CustodyError as exc:
        run.fail("log", str(exc), CheckKind.TREE)
        return
    if stored_root != new_root:
        run.fail("log", "stored Merkle root differs from the root recomputed from the new events", CheckKind.TREE)
        return
    consistent = (trusted.size == size and trusted.root == new_root) or (
        trusted.size < size and merkle.verify_consistency(trusted.size, size, trusted.root, new_root, proof)
    )
    run.report.add(
        CheckKind.CONSISTENCY,
        run.label,
        consistent,
        f"the log of {size} events extends the kept checkpoint at size {trusted.size} (consistency proof)"
        if consistent
        else f"the log of {size} events does not extend the kept checkpoint at size {trusted.size}",
    )


def check_new_checkpoints(run: SinceRun, trusted: Trusted, size: int) -> CheckpointRow | None:
    """Checkpoints written since the kept one; returns the newest that verified."""
    assert run.authority.identity is not None
    vkey = run.authority.identity.vkey
    rows = list(
        run.session.scalars(select(CheckpointRow).where(CheckpointRow.size >= trusted.size).order_by(CheckpointRow.num))
    )
    good: CheckpointRow | None = None
    for row in rows:
        subject = f"checkpoint {row.num} (size {row.size})"
        try:
            cp = note.open_checkpoint(row.note, vkey)
        except ProofError as exc:
            run.fail(subject, str(exc), CheckKind.CHECKPOINT_SIGNATURE)
            continue
        problem = run.authority.cosigner_problem(row.note, cp.size)
        if problem:
            run.fail(subject, problem, CheckKind.CHECKPOINT_SIGNATURE)
        elif cp.size > size:
            run.fail(subject, f"covers {cp.size} events but the log has only {size}", CheckKind.CHECKPOINT)
        elif (trusted.root if cp.size == trusted.size else run.roots.get(cp.size)) != cp.root:
            run.fail(subject, "signed root differs from the root recomputed from the events", CheckKind.CHECKPOINT)
        else:
            good = row
    if good is None or good.size != size:
        run.fail(
            "log",
            f"the latest checkpoint covers {good.size if good else trusted.size} of {size} events",
            CheckKind.CHECKPOINT_LATEST,
        )
    elif not any(c.check.startswith("checkpoint") for c in run.report.failures):
        run.report.add(
            CheckKind.CHECKPOINT, "log", True, f"{len(rows)} checkpoints since the kept one signed and consistent"
        )
    return good


def check_new_event_items(run: SinceRun, size: int) -> None:
    """The ``event_items`` rows of the events from ``size`` on are exactly what they name."""
    connection = run.session.connection()
    implied: dict[int, set[str]] = {}
    rows = connection.execute(select(Event.seq, Event.action, Event.item_id, Event.payload).where(Event.seq >= size))
    for seq, action, item, payload_text in rows:
        payload: object = {}
        if action in PAYLOAD_FIELDS:
            with suppress_malformed():
                payload = parse(payload_text)
        names = named_items(action, item, payload if isinstance(payload, dict) else {})
        if names:
            implied[seq] = set(names)
    stored: dict[int, set[str]] = {}
    for seq, item_id in connection.execute(select(EventItem.seq, EventItem.item_id).where(EventItem.seq >= size)):
        stored.setdefault(seq, set()).add(item_id)
    problems = 0
    for seq in sorted(set(implied) | set(stored)):
        want, have = implied.get(seq, set()), stored.get(seq, set())
        for differing, detail in (
            (want - have, "the event names this item but the table has no row"),
            (have - want, "row names an item the event does not name"),
        ):
            for item in sorted(differing):
                problems += 1
                run.fail(f"event_items seq {seq} item {item}", detail, CheckKind.EVENT_ITEMS)
    if not problems:
        run.report.add(
            CheckKind.EVENT_ITEMS, "log", True, f"{sum(map(len, implied.values()))} item links of new events match"
        )
