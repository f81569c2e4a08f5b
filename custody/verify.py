"""Verification: re-hash stored bytes, check every signature, walk the chain, check the tree."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from . import keys, progress
from .archive import Acting, Archive
from .canonical import parse
from .checks import Check as Check  # re-exported: custody.verify.Check/Report predate custody.checks
from .checks import CheckKind
from .checks import Report as Report
from .db.models import CheckpointTimestamp, Item
from .errors import CustodyError, ProofError
from .hashing import digest_stream, sha256_hex
from .items import get_item
from .log import checkpoints, note
from .log.event_items import check_event_items
from .log.sigcheck import Job, bad_signatures
from .log.state import LogState
from .logwalk import check_actors, check_against, check_checkpoints, check_tree, walk_log
from .rehash import EarlyRehash
from .roles import Permission
from .timeutil import parse_utc, utc_now

if TYPE_CHECKING:
    pass


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
        return [Check(CheckKind.WITHHELD_VALUES, item.item_id, False, str(exc))]
    return [Check(CheckKind.WITHHELD_VALUES, item.item_id, True, "stored values match the signed digests")]


def _rehash_reported(archive: Archive, item: Item, early: EarlyRehash | None) -> list[Check]:
    """``_rehash``, then the item's bytes reported as checked (custody.progress)."""
    checks = _rehash(archive, item, early)
    progress.advance(item.size)
    return checks


def _rehash(archive: Archive, item: Item, early: EarlyRehash | None) -> list[Check]:
    """Stream the stored bytes through both digests, and check the blob is still locked."""
    try:
        got = early.result(item.sha256) if early is not None else None
        if got is None:
            with archive.store.open_read(item.sha256) as stream:
                got = digest_stream(stream)
    except CustodyError as exc:
        return [Check(CheckKind.BLOB, item.item_id, False, str(exc))]
    problems = [
        f"{name} {got_v[:16]}… ≠ recorded {want[:16]}…"
        for name, got_v, want in (("sha256", got.sha256, item.sha256), ("blake3", got.blake3, item.blake3))
        if got_v != want
    ]
    if got.size != item.size:
        problems.append(f"size {got.size} ≠ recorded {item.size}")
    checks = [Check(CheckKind.BLOB, item.item_id, not problems, "; ".join(problems) or "SHA-256 and BLAKE3 match")]
    checks.extend(_withheld_values(archive, item))
    try:
        lock = archive.store.lock_info(item.sha256)
    except (CustodyError, OSError) as exc:
        return [*checks, Check(CheckKind.LOCK, item.item_id, False, f"cannot read the lock state: {exc}")]
    if not lock.locked:
        checks.append(Check(CheckKind.LOCK, item.item_id, False, f"blob is no longer protected ({lock.mode})"))
    elif lock.retain_until is not None:
        until = parse_utc(lock.retain_until)
        days = (until - utc_now()).days
        soon = days < RETENTION_WARNING_DAYS
        detail = f"{lock.mode} until {lock.retain_until}" + (f" (retention ends in {days} days)" if soon else "")
        checks.append(Check(CheckKind.LOCK, item.item_id, True, detail, warning=soon))
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
        CheckKind.RECORD_SIGNATURE,
        item.item_id,
        signature_ok,
        "" if signature_ok else "record signature does not verify",
    )
    record: dict[str, object] | None = None
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
        CheckKind.RECORD_FIELDS,
        item.item_id,
        fields_ok,
        "" if fields_ok else "catalog columns differ from the signed record",
    )
    problem = state.authority.record_problem(
        item.item_id, sha256_hex(item.record.encode("utf-8")), item.signer_key_id, record if fields_ok else None
    )
    report.add(CheckKind.INGEST_EVENT, item.item_id, not problem, problem)


def _items(session: Session, item_ids: Sequence[str] | None) -> list[Item]:
    if item_ids is None:
        return list(session.scalars(select(Item).order_by(Item.num)))
    return [get_item(session, item_id) for item_id in item_ids]


def _check_timestamps(session: Session, archive: Archive, tsa_ca: Path | None, report: Report) -> None:
    """Every checkpoint's RFC 3161 token, against ``tsa_ca`` or the configured TSA root."""
    no_tokens = not session.scalar(select(func.count()).select_from(CheckpointTimestamp))
    if no_tokens and tsa_ca is None and not archive.config.tsa.url:
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
            report.add(CheckKind.TIMESTAMP, f"checkpoint #{res.num}", False, res.problem)
    good = [r for r in results if r.attestation is not None]
    if good:
        last = good[-1]
        assert last.attestation is not None
        unchained = not last.attestation.chain_checked
        report.add(
            CheckKind.TIMESTAMP,
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
            CheckKind.TIMESTAMP,
            f"{len(nums)} checkpoints",
            True,
            f"untimestamped ({shown}); run 'custody timestamp --pending'",
            warning=True,
        )


# Failures of these checks mean the log itself (its events, tree or checkpoints) is damaged.
_LOG_CHECKS = ("sequence", "chain", "event-signature", "tree", "checkpoint", "against-checkpoint", "log")
# What a check that could not run at all raises (a malformed row, a database error); it becomes a failure.
_UNCHECKABLE = (CustodyError, SQLAlchemyError, ValueError, KeyError, TypeError, AttributeError)


def _guarded(report: Report, check: CheckKind, run: Callable[[], None]) -> None:
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

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        TimestampError: the TSA root (``tsa_ca`` or the configured one) cannot be read or holds no certificate.
        A checkpoint given in ``against`` that does not parse, and any damage, never raise: they are failed checks.
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
            progress.begin("verify", sum(it.size for it in items))
            rehashed = pool.map(lambda it: _rehash_reported(archive, it, early), items)
            wanted_sizes = [row.size for row in checkpoints.all_checkpoints(session)]
            for _label, text in against:
                with contextlib.suppress(ProofError):
                    wanted_sizes.append(note.parse_checkpoint(text.split("\n\n", 1)[0] + "\n").size)
            try:
                state = walk_log(session, report, wanted_sizes)
            except _UNCHECKABLE as exc:
                report.add(CheckKind.LOG, "log", False, f"the log could not be read to its end: {exc}")
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
    from .replicas import check_replicas

    _guarded(report, CheckKind.ACTOR, lambda: check_actors(session, state, report))
    if whole:
        _guarded(report, CheckKind.TREE, lambda: check_tree(session, state, report))
        _guarded(report, CheckKind.EVENT_ITEMS, lambda: check_event_items(session, report))
        _guarded(report, CheckKind.CHECKPOINT, lambda: check_checkpoints(session, state, report))
        _guarded(report, CheckKind.TIMESTAMP, lambda: _check_timestamps(session, archive, tsa_ca, report))
        _guarded(report, CheckKind.CATALOG, lambda: check_catalog(session, state, report, items, archive.store))
        _guarded(report, CheckKind.UNRECORDED_BLOB, lambda: check_unrecorded(session, archive.store, report))
        _guarded(report, CheckKind.REPLICA, lambda: check_replicas(session, archive.config.root, report))
    for label, text in against:
        check_against(state, text, label, report)
    bad_records = _bad_record_signatures(items, state)
    for index, item in enumerate(items):
        _check_record(item, index not in bad_records, state, report)
    _guarded(report, CheckKind.DERIVATION, lambda: _check_derivations(session, items, state, report))
    _guarded(report, CheckKind.WITHHELD_VALUES, lambda: _check_correction_values(archive, state, report))


def _check_correction_values(archive: Archive, state: LogState, report: Report) -> None:
    """Each ``correct`` event's stored value still opens the digest it signs (custody.corrections)."""
    from . import disclosure

    for event in state.events_by_action.get("correct", []):
        where = f"{event.item} (correct event {event.seq})"
        try:
            disclosure.load(archive.store, event.payload, where)
        except CustodyError as exc:
            report.add(CheckKind.WITHHELD_VALUES, f"event {event.seq}", False, str(exc))
        else:
            report.add(
                CheckKind.WITHHELD_VALUES, f"event {event.seq}", True, "the corrected value matches its signed digest"
            )


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
        detail = problem or f"derived from {link.get('item_id')}: link signed"
        report.add(CheckKind.DERIVATION, item.item_id, not problem, detail)


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
            CheckKind.VERIFY_LOGGED,
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
    append_verify_event(acting, payload, report)


def append_verify_event(acting: Acting, payload: Mapping[str, object], report: Report) -> None:
    """Append a ``verify`` event with ``payload``; the outcome is one more named check of ``report``."""
    try:
        with acting.writing() as session:
            seq = acting.append(session, "verify", dict(payload)).seq
    except (CustodyError, SQLAlchemyError, OSError) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        report.add(CheckKind.VERIFY_LOGGED, "log", False, f"this verification could not be logged: {reason}")
        return
    report.add(CheckKind.VERIFY_LOGGED, "log", True, f"this verification is event {seq} of the log")
