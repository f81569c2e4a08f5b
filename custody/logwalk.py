"""The full walk of the custody log that ``verify`` starts with: sequence, chain, signatures, authority, tree,
checkpoints, and published checkpoints it must extend (custody.verify checks the items against what it finds).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import keys
from .archive import registered_actors
from .canonical import parse
from .checks import Check as Check  # re-exported: custody.verify.Check/Report predate custody.checks
from .checks import CheckKind
from .checks import Report as Report
from .db.models import Event
from .errors import CustodyError, ProofError
from .log import checkpoints, merkle, note, tree
from .log.authority import IDENTITY_CHECK, LIFECYCLE_ACTIONS, Authority
from .log.events import GENESIS_PREV, LogEvent, canonical_pair
from .log.sigcheck import Job, bad_signatures
from .log.state import LogState

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor


CATALOG_ACTIONS = frozenset(
    {
        "archive.init",
        "actor.add",
        "ingest",
        "acquire",
        "case.add",
        "correct",
        "import",
        "derive",
        # Read by the two-person export rules (custody.log.authority): their payloads are needed.
        "configure",
        "export",
        "export.request",
        "export.approve",
        "export.reject",
    }
)
"""Actions whose events create catalog rows; walk_log parses and keeps them (``LogState.events_by_action``)."""

# Below this many events, spawning signature-checking processes costs more than it saves.
_PARALLEL_FROM = 20_000
_BATCH = 4096


def _signature_pool() -> ProcessPoolExecutor:
    # Imported here: multiprocessing is a noticeable share of a short verify's start-up.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=os.cpu_count() or 2, mp_context=multiprocessing.get_context("spawn"))


def _payload(seq: int, text: str, report: Report) -> dict[str, object]:
    try:
        payload = parse(text)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        report.add(CheckKind.EVENT, f"event {seq}", False, "payload is not a JSON object (the row was edited)")
        return {}
    return payload


def walk_log(session: Session, report: Report, root_sizes: Iterable[int] = ()) -> LogState:
    """Stream every event: sequence, hash chain, authority (custody.log.authority), signatures, Merkle roots.

    Signatures of large logs are checked in worker processes while this one hashes.
    """
    authority = Authority(report)
    admit = authority.admit
    state = LogState(authority)
    by_action = state.events_by_action
    wanted = set(root_sizes)
    builder = merkle.RootBuilder()
    expected_seq = 0
    prev_hash = GENESIS_PREV
    bad_sigs: list[int] = []
    unregistered = 0
    chain_broken = False
    genesis: tuple[bytes, bytes] | None = None
    total = session.scalar(select(func.count()).select_from(Event)) or 0
    pool = _signature_pool() if total >= _PARALLEL_FROM else None
    pending: list[Future[list[int]]] = []
    batch: list[Job] = []

    def flush() -> None:
        if pool is None:
            bad_sigs.extend(bad_signatures(batch))
        else:
            pending.append(pool.submit(bad_signatures, list(batch)))
        batch.clear()

    columns = (Event.seq, Event.time, Event.actor, Event.action, Event.item_id, Event.payload, Event.prev, Event.sig)
    # Through the connection: plain rows, without the ORM's per-row loading machinery.
    rows = session.connection().execute(select(*columns).order_by(Event.seq).execution_options(yield_per=5000))
    try:
        for seq, time, actor, action, item, payload_text, prev, sig in rows:
            unsigned, full = canonical_pair(seq, time, actor, action, item, payload_text, prev, sig)
            if seq != expected_seq:
                report.add(
                    CheckKind.SEQUENCE,
                    f"event {seq}",
                    False,
                    f"expected seq {expected_seq}, found {seq}: events are missing or reordered",
                )
                expected_seq = seq
                chain_broken = True
            if prev != prev_hash:
                chain_broken = True
                report.add(
                    CheckKind.CHAIN,
                    f"event {seq}",
                    False,
                    "prev does not hash the preceding event: an event was removed, reordered or edited",
                )
            if action in CATALOG_ACTIONS:
                event = LogEvent(seq, time, actor, action, item, _payload(seq, payload_text, report), prev, sig)
                by_action.setdefault(action, []).append(event)
                raw_key = admit(seq, time, actor, action, item, event.payload)
            elif action in LIFECYCLE_ACTIONS:
                raw_key = admit(seq, time, actor, action, item, _payload(seq, payload_text, report))
            else:
                raw_key = admit(seq, time, actor, action, item, None)
            try:
                raw_sig = keys.unb64(sig)
            except ValueError:
                raw_sig = b""
            if raw_key is not None:
                batch.append((seq, raw_key, raw_sig, unsigned))
                if len(batch) >= _BATCH:
                    flush()
            elif seq == 0:
                genesis = (raw_sig, unsigned)  # its key is registered by event 1
            else:
                unregistered += 1  # the authority failure names it
            builder.add(hashlib.sha256(b"\x00" + full).digest())
            if builder.size in wanted:
                state.roots[builder.size] = builder.root()
            prev_hash = hashlib.sha256(full).hexdigest()
            expected_seq += 1
        flush()
        for future in pending:
            bad_sigs.extend(future.result())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if genesis is not None and not authority.check_genesis(*genesis):
        bad_sigs.append(0)
    for seq in sorted(bad_sigs):
        report.add(
            CheckKind.EVENT_SIGNATURE,
            f"event {seq}",
            False,
            "signature does not verify with the actor's registered key",
        )
    state.size = builder.size
    state.root = builder.root()
    if not bad_sigs:
        unchecked = f"; {unregistered} signed by unregistered keys" if unregistered else ""
        report.add(
            CheckKind.EVENT_SIGNATURE, "log", True, f"{state.size - unregistered} event signatures verify{unchecked}"
        )
    if not authority.failed:
        report.add(
            CheckKind.AUTHORITY,
            "log",
            True,
            "every event is signed by a key registered before it, with a role allowing it",
        )
    if state.size and authority.identity is None and not any(c.check == IDENTITY_CHECK for c in report.failures):
        report.add(IDENTITY_CHECK, "event 0", False, "the archive's identity (event 0) is not established")
    if not chain_broken:
        report.add(CheckKind.CHAIN, "log", True, f"events 0..{state.size - 1} are contiguous and hash-chained")
    return state


def check_actors(session: Session, state: LogState, report: Report) -> None:
    for row in registered_actors(session):
        info = state.keys.get(row.key_id)
        ok = info is not None and (info.name, info.added_role, info.pem) == (row.name, row.role, row.public_key_pem)
        if not ok:
            report.add(CheckKind.ACTOR, row.name, False, "actors table does not match the actor.add event in the log")


def check_tree(session: Session, state: LogState, report: Report) -> None:
    stored_size = tree.tree_size(session)
    if stored_size != state.size:
        report.add(CheckKind.TREE, "log", False, f"tree has {stored_size} leaves, log has {state.size} events")
        return
    try:
        stored_root = tree.root(session, state.size) if state.size else merkle.EMPTY_ROOT
    except CustodyError as exc:
        report.add(CheckKind.TREE, "log", False, str(exc))
        return
    report.add(
        CheckKind.TREE,
        "log",
        stored_root == state.root,
        "stored Merkle nodes match the events"
        if stored_root == state.root
        else "stored Merkle root differs from the root recomputed from the events",
    )


def check_checkpoints(session: Session, state: LogState, report: Report) -> None:
    rows = checkpoints.all_checkpoints(session)
    vkey = state.vkey
    if vkey is None:
        report.add(CheckKind.CHECKPOINT, "log", False, "no archive key in event 0; checkpoints cannot be checked")
        return
    previous: tuple[int, bytes] | None = None
    for row in rows:
        subject = f"checkpoint {row.num} (size {row.size})"
        try:
            cp = note.open_checkpoint(row.note, vkey)
        except ProofError as exc:
            report.add(CheckKind.CHECKPOINT_SIGNATURE, subject, False, str(exc))
            continue
        cosigner = state.authority.cosigner_problem(row.note, cp.size)
        if cosigner:
            report.add(CheckKind.CHECKPOINT_SIGNATURE, subject, False, cosigner)
            continue
        if cp.size > state.size:
            report.add(
                CheckKind.CHECKPOINT, subject, False, f"covers {cp.size} events but the log has only {state.size}"
            )
            continue
        if state.roots.get(cp.size) != cp.root:
            report.add(
                CheckKind.CHECKPOINT, subject, False, "signed root differs from the root recomputed from the events"
            )
            continue
        if previous is not None:
            old_size, old_root = previous
            try:
                proof = merkle.consistency_proof(old_size, cp.size, tree.DbNodes(session)) if old_size < cp.size else []
                consistent = (old_size == cp.size and old_root == cp.root) or merkle.verify_consistency(
                    old_size, cp.size, old_root, cp.root, proof
                )
            except CustodyError as exc:
                consistent = False
                report.add(CheckKind.CHECKPOINT_CONSISTENCY, subject, False, str(exc))
            if not consistent:
                report.add(
                    CheckKind.CHECKPOINT_CONSISTENCY,
                    subject,
                    False,
                    f"not consistent with the checkpoint at size {old_size}",
                )
        previous = (cp.size, cp.root)
    if rows and not any(c.check.startswith("checkpoint") for c in report.failures):
        report.add(CheckKind.CHECKPOINT, "log", True, f"{len(rows)} checkpoints signed and consistent")
    latest = rows[-1] if rows else None
    if latest is None or latest.size != state.size:
        report.add(
            CheckKind.CHECKPOINT_LATEST,
            "log",
            False,
            f"the latest checkpoint covers {latest.size if latest else 0} of {state.size} events",
        )


def check_against(state: LogState, published: str, label: str, report: Report) -> None:
    """Prove the current log extends an independently kept checkpoint note."""
    vkey = state.vkey
    if vkey is None:
        report.add(CheckKind.AGAINST_CHECKPOINT, label, False, "archive key unknown")
        return
    try:
        cp = note.open_checkpoint(published, vkey)
    except ProofError as exc:
        report.add(CheckKind.AGAINST_CHECKPOINT, label, False, str(exc))
        return
    if cp.size > state.size:
        report.add(
            CheckKind.AGAINST_CHECKPOINT,
            label,
            False,
            f"log was truncated: it has {state.size} events, the checkpoint covers {cp.size}; "
            f"first divergent size {state.size + 1}",
        )
    elif state.roots.get(cp.size) != cp.root:
        report.add(
            CheckKind.AGAINST_CHECKPOINT,
            label,
            False,
            f"log was rewritten: its root at size {cp.size} differs from the checkpoint's; "
            f"first divergent size {cp.size} or earlier",
        )
    else:
        report.add(
            CheckKind.AGAINST_CHECKPOINT,
            label,
            True,
            f"log of {state.size} events extends the checkpoint at size {cp.size}",
        )
