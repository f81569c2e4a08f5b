"""The signed item records in the catalog, as ``verify`` and ``verify --since`` check them against the walked log.

Each record's signature (in bulk), that the catalog columns are the signed fields, that an ingest
event binds it, each working copy's derivation link, and each correction's stored value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from . import keys
from .archive import Archive
from .blob_check import values_lock_failures
from .canonical import parse
from .checks import CheckKind, Report
from .db.models import Item
from .errors import CustodyError
from .hashing import sha256_hex
from .log.sigcheck import Job, bad_signatures
from .log.state import LogState


def bad_record_signatures(items: Sequence[Item], state: LogState) -> set[int]:
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


def check_record(item: Item, signature_ok: bool, state: LogState, report: Report) -> None:
    """The record's signature (as found by :func:`bad_record_signatures`), its fields and its ingest binding."""
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


def check_derivations(session: Session, items: Sequence[Item], state: LogState, report: Report) -> None:
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


def check_correction_values(archive: Archive, state: LogState, report: Report) -> None:
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
            _values_locked(archive, f"event {event.seq}", event.payload, report)


def check_acquisition_values(
    archive: Archive, state: LogState, items: Sequence[Item] | None, report: Report
) -> None:
    """Each ``acquire`` event of ``items`` (of any item if None): the stored values of its withheld fields still open
    the digests it signs.

    A later acquisition of the same bytes (another source, another witness) keeps its own salted values, as the
    record does: they are the only copy of what it withholds, so their loss is a failure like the record's.
    """
    from . import disclosure

    wanted = None if items is None else {item.item_id for item in items}
    for event in state.events_by_action.get("acquire", []):
        acquisition = event.payload.get("acquisition")
        if (wanted is not None and event.item not in wanted) or not isinstance(acquisition, dict):
            continue
        if disclosure.committed_digests(acquisition) is None:
            continue  # made before withheld fields: its values are in the clear, in the signed event
        subject = f"event {event.seq}"
        try:
            disclosure.load(archive.store, acquisition, f"{event.item} (acquire event {event.seq})")
        except CustodyError as exc:
            report.add(CheckKind.WITHHELD_VALUES, subject, False, str(exc))
            continue
        report.add(CheckKind.WITHHELD_VALUES, subject, True, "the acquisition's stored values match its signed digests")
        _values_locked(archive, subject, acquisition, report)


def _values_locked(archive: Archive, subject: str, holder: dict[str, Any], report: Report) -> None:
    """A failed lock check if the blob of ``holder``'s withheld values (already opened) is no longer protected."""
    from . import disclosure

    report.checks.extend(values_lock_failures(archive, subject, str(holder[disclosure.KEY]["values_sha256"])))
