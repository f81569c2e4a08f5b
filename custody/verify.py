"""Verification: re-hash stored bytes, check every signature, walk the chain, check the tree."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from . import keys
from .archive import Acting, Archive, registered_actors
from .canonical import parse
from .checks import Check as Check  # re-exported: custody.verify.Check/Report predate custody.checks
from .checks import Report as Report
from .db.models import CheckpointTimestamp, Event, Item
from .errors import CustodyError, ProofError
from .hashing import digest_stream, sha256_hex
from .items import get_item
from .log import checkpoints, merkle, note, tree
from .log.authority import IDENTITY_CHECK, LIFECYCLE_ACTIONS, Authority, Identity, KeyInfo
from .log.event_items import check_event_items
from .log.events import GENESIS_PREV, LogEvent, canonical_pair
from .log.sigcheck import Job, bad_signatures
from .rehash import EarlyRehash
from .roles import Permission
from .timeutil import utc_now

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor


@dataclass
class LogState:
    """What a full walk of the log established."""

    authority: Authority
    size: int = 0
    roots: dict[int, bytes] = field(default_factory=dict)  # tree size -> root, for sizes asked
    root: bytes = merkle.EMPTY_ROOT
    events_by_action: dict[str, list[LogEvent]] = field(default_factory=dict)
    """The parsed events of the catalog-relevant actions (``CATALOG_ACTIONS``), in seq order."""

    @property
    def keys(self) -> dict[str, KeyInfo]:
        """Registered key id -> who holds it, as the log's actor.add events say."""
        return self.authority.keys

    @property
    def identity(self) -> Identity | None:
        """The archive identity of event 0, once its signature verified."""
        return self.authority.identity

    @property
    def vkey(self) -> str | None:
        return self.identity.vkey if self.identity is not None else None

    @property
    def ingest_records(self) -> dict[str, str]:
        """item id -> record_sha256 of the ingest event that binds its record."""
        return {item: sha for item, (_signer, sha) in self.authority.ingests.items()}


CATALOG_ACTIONS = frozenset(
    {
        "archive.init",
        "actor.add",
        "ingest",
        "acquire",
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


def _payload(seq: int, text: str, report: Report) -> dict[str, Any]:
    try:
        payload = parse(text)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        report.add("event", f"event {seq}", False, "payload is not a JSON object (the row was edited)")
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
                    "sequence",
                    f"event {seq}",
                    False,
                    f"expected seq {expected_seq}, found {seq}: events are missing or reordered",
                )
                expected_seq = seq
                chain_broken = True
            if prev != prev_hash:
                chain_broken = True
                report.add(
                    "chain",
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
    if genesis is not None:
        init_key = authority.bootstrap_key()
        genesis_ok = init_key is not None and not bad_signatures([(0, init_key, *genesis)])
        authority.confirm_genesis(genesis_ok)
        if not genesis_ok:
            bad_sigs.append(0)
    for seq in sorted(bad_sigs):
        report.add(
            "event-signature", f"event {seq}", False, "signature does not verify with the actor's registered key"
        )
    state.size = builder.size
    state.root = builder.root()
    if not bad_sigs:
        unchecked = f"; {unregistered} signed by unregistered keys" if unregistered else ""
        report.add("event-signature", "log", True, f"{state.size - unregistered} event signatures verify{unchecked}")
    if not authority.failed:
        report.add(
            "authority", "log", True, "every event is signed by a key registered before it, with a role allowing it"
        )
    if state.size and authority.identity is None and not any(c.check == IDENTITY_CHECK for c in report.failures):
        report.add(IDENTITY_CHECK, "event 0", False, "the archive's identity (event 0) is not established")
    if not chain_broken:
        report.add("chain", "log", True, f"events 0..{state.size - 1} are contiguous and hash-chained")
    return state


def _check_actors(session: Session, state: LogState, report: Report) -> None:
    for row in registered_actors(session):
        info = state.keys.get(row.key_id)
        ok = info is not None and (info.name, info.added_role, info.pem) == (row.name, row.role, row.public_key_pem)
        if not ok:
            report.add("actor", row.name, False, "actors table does not match the actor.add event in the log")


def _check_tree(session: Session, state: LogState, report: Report) -> None:
    stored_size = tree.tree_size(session)
    if stored_size != state.size:
        report.add("tree", "log", False, f"tree has {stored_size} leaves, log has {state.size} events")
        return
    try:
        stored_root = tree.root(session, state.size) if state.size else merkle.EMPTY_ROOT
    except CustodyError as exc:
        report.add("tree", "log", False, str(exc))
        return
    report.add(
        "tree",
        "log",
        stored_root == state.root,
        "stored Merkle nodes match the events"
        if stored_root == state.root
        else "stored Merkle root differs from the root recomputed from the events",
    )


def _check_checkpoints(session: Session, state: LogState, report: Report) -> None:
    rows = checkpoints.all_checkpoints(session)
    vkey = state.vkey
    if vkey is None:
        report.add("checkpoint", "log", False, "no archive key in event 0; checkpoints cannot be checked")
        return
    previous: tuple[int, bytes] | None = None
    for row in rows:
        subject = f"checkpoint {row.num} (size {row.size})"
        try:
            cp = note.open_checkpoint(row.note, vkey)
        except ProofError as exc:
            report.add("checkpoint-signature", subject, False, str(exc))
            continue
        cosigner = state.authority.cosigner_problem(row.note, cp.size)
        if cosigner:
            report.add("checkpoint-signature", subject, False, cosigner)
            continue
        if cp.size > state.size:
            report.add("checkpoint", subject, False, f"covers {cp.size} events but the log has only {state.size}")
            continue
        if state.roots.get(cp.size) != cp.root:
            report.add("checkpoint", subject, False, "signed root differs from the root recomputed from the events")
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
                report.add("checkpoint-consistency", subject, False, str(exc))
            if not consistent:
                report.add(
                    "checkpoint-consistency", subject, False, f"not consistent with the checkpoint at size {old_size}"
                )
        previous = (cp.size, cp.root)
    if rows and not any(c.check.startswith("checkpoint") for c in report.failures):
        report.add("checkpoint", "log", True, f"{len(rows)} checkpoints signed and consistent")
    latest = rows[-1] if rows else None
    if latest is None or latest.size != state.size:
        report.add(
            "checkpoint-latest",
            "log",
            False,
            f"the latest checkpoint covers {latest.size if latest else 0} of {state.size} events",
        )


def check_against(state: LogState, published: str, label: str, report: Report) -> None:
    """Prove the current log extends an independently kept checkpoint note."""
    vkey = state.vkey
    if vkey is None:
        report.add("against-checkpoint", label, False, "archive key unknown")
        return
    try:
        cp = note.open_checkpoint(published, vkey)
    except ProofError as exc:
        report.add("against-checkpoint", label, False, str(exc))
        return
    if cp.size > state.size:
        report.add(
            "against-checkpoint",
            label,
            False,
            f"log was truncated: it has {state.size} events, the checkpoint covers {cp.size}; "
            f"first divergent size {state.size + 1}",
        )
    elif state.roots.get(cp.size) != cp.root:
        report.add(
            "against-checkpoint",
            label,
            False,
            f"log was rewritten: its root at size {cp.size} differs from the checkpoint's; "
            f"first divergent size {cp.size} or earlier",
        )
    else:
        report.add(
            "against-checkpoint", label, True, f"log of {state.size} events extends the checkpoint at size {cp.size}"
        )


RETENTION_WARNING_DAYS = 30


def _withheld_values(archive: Archive, item: Item) -> list[Check]:
    """The stored salted values of a record's withholdable fields still open its signed digests (custody.disclosure)."""
    from . import disclosure

    try:
        record = parse(item.record)
    except ValueError:
        return []  # reported by the record checks
    if disclosure.committed_digests(record) is None:
        return []
    try:
        disclosure.load(archive.store, record, item.item_id)
    except CustodyError as exc:
        return [Check("withheld-values", item.item_id, False, str(exc))]
    return [Check("withheld-values", item.item_id, True, "stored values match the signed digests")]


def _rehash(archive: Archive, item: Item, early: EarlyRehash | None) -> list[Check]:
    """Stream the stored bytes through both digests, and check the blob is still locked."""
    try:
        got = early.result(item.sha256) if early is not None else None
        if got is None:
            with archive.store.open_read(item.sha256) as stream:
                got = digest_stream(stream)
    except CustodyError as exc:
        return [Check("blob", item.item_id, False, str(exc))]
    problems = [
        f"{name} {got_v[:16]}… ≠ recorded {want[:16]}…"
        for name, got_v, want in (("sha256", got.sha256, item.sha256), ("blake3", got.blake3, item.blake3))
        if got_v != want
    ]
    if got.size != item.size:
        problems.append(f"size {got.size} ≠ recorded {item.size}")
    checks = [Check("blob", item.item_id, not problems, "; ".join(problems) or "SHA-256 and BLAKE3 match")]
    checks.extend(_withheld_values(archive, item))
    try:
        lock = archive.store.lock_info(item.sha256)
    except (CustodyError, OSError) as exc:
        return [*checks, Check("lock", item.item_id, False, f"cannot read the lock state: {exc}")]
    if not lock.locked:
        checks.append(Check("lock", item.item_id, False, f"blob is no longer protected ({lock.mode})"))
    elif lock.retain_until is not None:
        until = datetime.fromisoformat(lock.retain_until.replace("Z", "+00:00"))
        days = (until - utc_now()).days
        soon = days < RETENTION_WARNING_DAYS
        detail = f"{lock.mode} until {lock.retain_until}" + (f" (retention ends in {days} days)" if soon else "")
        checks.append(Check("lock", item.item_id, True, detail, warning=soon))
    return checks


def _bad_record_signatures(items: Sequence[Item], state: LogState) -> set[int]:
    """Indexes (into ``items``) of records whose signature does not verify, checked in bulk."""
    jobs: list[Job] = []
    bad: set[int] = set()
    for index, item in enumerate(items):
        signer = state.keys.get(item.signer_key_id)
        try:
            raw_sig = keys.unb64(item.signature)
        except ValueError:
            raw_sig = b""
        if signer is None:
            bad.add(index)
        else:
            jobs.append((index, signer.raw, raw_sig, item.record.encode("utf-8")))
    return bad.union(bad_signatures(jobs))


def _check_record(item: Item, signature_ok: bool, state: LogState, report: Report) -> None:
    report.add(
        "record-signature", item.item_id, signature_ok, "" if signature_ok else "record signature does not verify"
    )
    record: dict[str, Any] | None = None
    try:
        record = parse(item.record)
        fields_ok = (record["item_id"], record["sha256"], record["blake3"], record["size"], record["media_type"]) == (
            item.item_id,
            item.sha256,
            item.blake3,
            item.size,
            item.media_type,
        )
    except (ValueError, KeyError, TypeError):
        fields_ok = False
    report.add(
        "record-fields", item.item_id, fields_ok, "" if fields_ok else "catalog columns differ from the signed record"
    )
    problem = state.authority.record_problem(
        item.item_id, sha256_hex(item.record.encode("utf-8")), item.signer_key_id, record if fields_ok else None
    )
    report.add("ingest-event", item.item_id, not problem, problem)


def _items(session: Session, item_ids: Sequence[str] | None) -> list[Item]:
    if item_ids is None:
        return list(session.scalars(select(Item).order_by(Item.num)))
    return [get_item(session, item_id) for item_id in item_ids]


def _check_timestamps(session: Session, archive: Archive, tsa_ca: Path | None, report: Report) -> None:
    """Every checkpoint's RFC 3161 token, against ``tsa_ca`` or the configured TSA root."""
    no_tokens = not session.scalar(select(func.count()).select_from(CheckpointTimestamp))
    if no_tokens and tsa_ca is None and not archive.config.tsa.get("url"):
        return  # nothing to check or to warn about; the TSA libraries need not be loaded
    from .timestamp import stamps
    from .timestamp.settings import tsa_settings
    from .timestamp.tsa import load_roots

    settings = tsa_settings(archive.config)
    ca = tsa_ca if tsa_ca is not None else (settings.ca if settings is not None else None)
    roots = load_roots(ca) if ca is not None else None
    results = stamps.check_tokens(session, roots)
    for res in results:
        if res.problem is not None:
            report.add("timestamp", f"checkpoint #{res.num}", False, res.problem)
    good = [r for r in results if r.attestation is not None]
    if good:
        last = good[-1]
        assert last.attestation is not None
        unchained = not last.attestation.chain_checked
        report.add(
            "timestamp",
            f"checkpoint #{last.num}",
            True,
            f"{len(good)} checkpoint tokens verify; the latest, over tree size {last.size}, is "
            + last.attestation.describe(),
            warning=unchained,
        )
    missing = stamps.untimestamped(session)
    if missing and (settings is not None or results):
        nums = [row.num for row in missing]
        shown = ", ".join(f"#{n}" for n in nums[:10]) + (" …" if len(nums) > 10 else "")
        report.add(
            "timestamp",
            f"{len(nums)} checkpoints",
            True,
            f"untimestamped ({shown}); run 'custody timestamp --pending'",
            warning=True,
        )


# Failures of these checks mean the log itself (its events, tree or checkpoints) is damaged.
_LOG_CHECKS = ("sequence", "chain", "event-signature", "tree", "checkpoint", "against-checkpoint", "log")
# What a check that could not run at all raises (a malformed row, a database error); it becomes a failure.
_UNCHECKABLE = (CustodyError, SQLAlchemyError, ValueError, KeyError, TypeError, AttributeError)


def _guarded(report: Report, check: str, run: Callable[[], None]) -> None:
    try:
        run()
    except _UNCHECKABLE as exc:
        report.add(check, "log", False, f"could not be checked: {exc}")


def verify_archive(
    acting: Acting,
    item_ids: Sequence[str] | None,
    against: Sequence[tuple[str, str]] = (),
    tsa_ca: Path | None = None,
    early: EarlyRehash | None = None,
    rederive: bool = False,
    verified_notes: list[str] | None = None,
) -> Report:
    """Verify the given items (all if None) and the whole log; the verification is logged when it can be.

    ``against`` holds (label, note text) pairs of independently kept checkpoints; ``tsa_ca`` is
    the TSA root to check checkpoint tokens against (default: the configured one); ``early``
    is a re-hash of the store started before the archive was opened (see custody.rehash); ``rederive``
    re-makes reproducible working copies from their sources (custody.rederive); ``verified_notes``, if
    given, receives the note of the checkpoint over the whole verified log (for ``--save-checkpoint``).
    Every read sees one snapshot of the catalog, so appends made meanwhile are neither seen nor
    mistaken for tampering. Damage never raises: it is a failed check in the report.
    """
    acting.unlock_for_reading()
    acting.require(Permission.VERIFY, item_ids[0] if item_ids and len(item_ids) == 1 else None)
    archive = acting.archive
    report = Report()
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    try:
        with archive.db.snapshot() as session:
            items = _items(session, item_ids)
            # Hashing releases the GIL: re-hash the blobs while this thread walks the log.
            rehashed = pool.map(lambda it: _rehash(archive, it, early), items)
            wanted_sizes = [row.size for row in checkpoints.all_checkpoints(session)]
            for _label, text in against:
                with contextlib.suppress(ProofError):
                    wanted_sizes.append(note.parse_checkpoint(text.split("\n\n", 1)[0] + "\n").size)
            try:
                state = walk_log(session, report, wanted_sizes)
            except _UNCHECKABLE as exc:
                report.add("log", "log", False, f"the log could not be read to its end: {exc}")
                state = None
            if state is not None:
                _verify_against_log(session, archive, state, items, item_ids is None, against, tsa_ca, report)
                latest = checkpoints.latest(session)
                if verified_notes is not None and latest is not None and latest.size == state.size:
                    verified_notes.append(latest.note)
            for checks in rehashed:
                report.checks.extend(checks)
            if rederive:
                report.checks.extend(_rederive(session, archive, items))
            count = session.scalar(select(func.count()).select_from(Item))
    finally:
        # On Ctrl-C or an error, re-hashes still queued are dropped rather than run first.
        pool.shutdown(cancel_futures=True)
    _log_verification(acting, item_ids, len(items), count, report)
    return report


def _rederive(session: Session, archive: Archive, items: Sequence[Item]) -> list[Check]:
    from .rederive import rederive

    sources: dict[str, Item] = {}
    for item in items:
        with contextlib.suppress(ValueError):
            link = parse(item.record).get("derived_from")
            if isinstance(link, dict) and (row := session.get(Item, str(link.get("item_id")))) is not None:
                sources[row.item_id] = row
    return rederive(archive.store, items, sources)


def _verify_against_log(
    session: Session,
    archive: Archive,
    state: LogState,
    items: Sequence[Item],
    whole: bool,
    against: Sequence[tuple[str, str]],
    tsa_ca: Path | None,
    report: Report,
) -> None:
    """Everything checked against the walked log: actors, tree, checkpoints, catalog, records."""
    from .catalog_check import check_catalog
    from .diskspace import check_unrecorded
    from .replicate import check_replicas

    _guarded(report, "actor", lambda: _check_actors(session, state, report))
    if whole:
        _guarded(report, "tree", lambda: _check_tree(session, state, report))
        _guarded(report, "event-items", lambda: check_event_items(session, report))
        _guarded(report, "checkpoint", lambda: _check_checkpoints(session, state, report))
        _guarded(report, "timestamp", lambda: _check_timestamps(session, archive, tsa_ca, report))
        _guarded(report, "catalog", lambda: check_catalog(session, state, report, items, archive.store))
        _guarded(report, "unrecorded-blob", lambda: check_unrecorded(session, archive.store, report))
        _guarded(report, "replica", lambda: check_replicas(session, archive, report))
    for label, text in against:
        check_against(state, text, label, report)
    bad_records = _bad_record_signatures(items, state)
    for index, item in enumerate(items):
        _check_record(item, index not in bad_records, state, report)
    _guarded(report, "derivation", lambda: _check_derivations(session, items, state, report))


def _check_derivations(session: Session, items: Sequence[Item], state: LogState, report: Report) -> None:
    """Each working copy's signed link to its source holds (custody.derivation)."""
    from .derivation import DERIVE, DeriveEvent, link_problem, source_of

    derives = [DeriveEvent(e.seq, e.item, e.payload) for e in state.events_by_action.get(DERIVE, [])]
    for item in items:
        try:
            link = source_of(parse(item.record))
        except ValueError:
            continue  # an unparseable record is reported by the record checks
        if link is None:
            continue
        source = session.get(Item, str(link.get("item_id")))
        held = {} if source is None else {source.item_id: sha256_hex(source.record.encode("utf-8"))}
        problem = link_problem(
            item.item_id, sha256_hex(item.record.encode("utf-8")), link, state.ingest_records, held, derives
        )
        report.add(
            "derivation", item.item_id, not problem, problem or f"derived from {link.get('item_id')}: link signed"
        )


def _log_verification(
    acting: Acting, item_ids: Sequence[str] | None, verified: int, count: int | None, report: Report
) -> None:
    """Append the ``verify`` event, or say in the report why it was not appended.

    A log whose chain, tree or checkpoints failed is not appended to: the new event's ``prev``
    would vouch for a tail that may be forged, and its seq could collide with what was removed.
    The report stands on its own; the failure to log is one more named check.
    """
    damaged = sorted({c.check for c in report.failures if c.check.startswith(_LOG_CHECKS)})
    if damaged:
        report.add(
            "verify-logged",
            "log",
            False,
            "this verification was not logged: the log itself failed (" + ", ".join(damaged) + "), and an event "
            "signed on top of it would vouch for its damaged tail",
        )
        return
    payload = {
        "scope": "all" if item_ids is None else sorted(item_ids),
        "items": verified,
        "archive_items": count,
        "ok": report.ok,
        "failures": [f"{c.check}:{c.subject}" for c in report.failures][:100],
    }
    try:
        with acting.writing() as session:
            seq = acting.append(session, "verify", payload).seq
    except (CustodyError, SQLAlchemyError, OSError) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        report.add("verify-logged", "log", False, f"this verification could not be logged: {reason}")
        return
    report.add("verify-logged", "log", True, f"this verification is event {seq} of the log")
