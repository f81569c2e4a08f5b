"""Verification (``verify --all``, ``verify ITEM``): re-hash stored bytes, check every signature, walk the chain,
check the tree.

The log walk is custody.logwalk; each item's stored bytes custody.blob_check; its signed record
custody.record_checks; the ``verify`` event that records the run custody.verify_event. ``verify --since``
(custody.incremental) shares the last three.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from . import progress
from .archive import Acting, Archive
from .blob_check import check_fixity, check_stored
from .canonical import parse
from .checks import Check as Check  # re-exported: custody.verify.Check/Report predate custody.checks
from .checks import CheckKind
from .checks import Report as Report
from .db.models import CheckpointTimestamp, Item
from .errors import CustodyError, ProofError
from .items import get_item
from .log import checkpoints, note
from .log.event_items import check_event_items
from .log.state import LogState
from .logwalk import check_actors, check_against, check_checkpoints, check_tree, walk_log
from .record_checks import (
    bad_record_signatures,
    check_acquisition_values,
    check_correction_values,
    check_derivations,
    check_record,
)
from .rehash import EarlyRehash
from .roles import Permission
from .verify_event import LOG_CHECKS, log_verification

_Checked = tuple[Check, bool, list[Check] | None]
"""An item's fixity check, whether its bytes could be read, and its other stored checks (None: not yet run)."""


def _blob_reported(archive: Archive, item: Item, early: EarlyRehash | None) -> _Checked:
    """``check_fixity`` (and ``check_stored`` unless ``early`` is given), then the item's bytes reported as checked.

    With ``early``, the digests come from a child process and the stored checks are Python work that ``verify_archive``
    runs on its own thread meanwhile; without, each stored check waits on the store (an S3 lock lookup, a read) and
    runs here, in parallel.
    """
    fixity, readable = check_fixity(archive, item, early)
    stored = check_stored(archive, item) if early is None and readable else None
    progress.advance(item.size)
    return fixity, readable, stored


def _items(session: Session, item_ids: Sequence[str] | None) -> list[Item]:
    if item_ids is None:
        return list(session.scalars(select(Item).order_by(Item.num)))
    return [get_item(session, item_id) for item_id in item_ids]


_COLUMN_TYPES = {
    "item_id": str,
    "sha256": str,
    "blake3": str,
    "size": int,
    "media_type": str,
    "record": str,
    "signer_key_id": str,
    "signature": str,
}


def _well_typed(items: list[Item], report: Report) -> list[Item]:
    """The rows whose columns hold values of their types; each other row is a failed check, not checked further.

    SQLite keeps whatever a row is given (text in ``size``, bytes in ``record``): a row written outside custody
    must be reported, not crash the checks that read it.
    """
    good = []
    for item in items:
        wrong = [
            name
            for name, kind in _COLUMN_TYPES.items()
            if not isinstance(getattr(item, name), kind) or isinstance(getattr(item, name), bool)
        ]
        if wrong:
            detail = f"catalog row has a value of the wrong type in {', '.join(wrong)} (written outside custody)"
            report.add(CheckKind.RECORD_FIELDS, str(item.item_id), False, detail)
        else:
            good.append(item)
    return good


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
    if early is not None and early.root != getattr(archive.store, "root", None):
        # The re-hash read custody.toml before the archive was opened: if the two name different stores (the
        # file was changed in between), its digests are of another store's blobs and vouch for nothing here.
        early = None
    report = Report()
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    try:
        with archive.db.snapshot() as session:
            items = _well_typed(_items(session, item_ids), report)
            # Hashing releases the GIL: re-hash the blobs while this thread walks the log. With the early re-hash,
            # the pool's threads only wait for its digests, and the Python work of each item's other stored checks
            # is done by this thread meanwhile (below), not by threads that would wait on each other for the GIL.
            progress.begin("verify", sum(it.size for it in items))
            blobs = pool.map(lambda it: _blob_reported(archive, it, early), items)
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
            stored_here = [check_stored(archive, item) for item in items] if early is not None else []
            for index, (fixity, readable, stored) in enumerate(blobs):
                report.checks.append(fixity)
                if readable:
                    report.checks.extend(stored if stored is not None else stored_here[index])
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
            record = parse(item.record)
            link = record.get("derived_from") if isinstance(record, dict) else None  # a forged row: the record checks
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
    bad_records = bad_record_signatures(items, state)
    for index, item in enumerate(items):
        check_record(item, index not in bad_records, state, report)
    _guarded(report, CheckKind.DERIVATION, lambda: check_derivations(session, items, state, report))
    _guarded(report, CheckKind.WITHHELD_VALUES, lambda: check_correction_values(archive, state, report))
    _guarded(report, CheckKind.WITHHELD_VALUES, lambda: check_acquisition_values(archive, state, items, report))


def _log_verification(
    acting: Acting, item_ids: Sequence[str] | None, verified: int, count: int | None, report: Report
) -> None:
    """Append the ``verify`` event, or say in the report why it was not appended (custody.verify_event)."""
    payload = {
        "scope": "all" if item_ids is None else sorted(item_ids),
        "items": verified,
        "archive_items": count,
        "ok": report.ok,
        "failures": [f"{c.check}:{c.subject}" for c in report.failures][:100],
    }
    log_verification(
        acting, payload, report, LOG_CHECKS, ", and an event signed on top of it would vouch for its damaged tail"
    )
