"""The catalog side of an ingest: new items, acquisitions of known bytes, case membership, signed and logged.

Every function here runs inside one write transaction (``Acting.writing``), which holds the archive's
write lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import disclosure, records
from ..archive import Acting
from ..db.models import Item, ItemCase
from ..errors import InputError
from ..hashing import Digests, sha256_hex
from ..metadata import compute_flags
from ..timeutil import iso, parse_iso, utc_now
from .pipeline import Stored
from .sources import Source, display_name


@dataclass(frozen=True)
class IngestResult:
    """What happened to one file."""

    item_id: str
    sha256: str
    blake3: str
    size: int
    media_type: str
    original_name: str
    source_path: str
    duplicate_of: str | None
    event_seq: int

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def _acquisition(source: Source, stored: Stored, provenance: records.Provenance) -> dict[str, Any]:
    name, name_bytes = display_name(source.path.name)
    path, path_bytes = display_name(str(source.path.absolute()))
    acquisition: dict[str, object] = {"original_name": name, "source_path": path}
    if name_bytes is not None:
        acquisition["original_name_bytes_b64"] = name_bytes
    if path_bytes is not None:
        acquisition["source_path_bytes_b64"] = path_bytes
    if provenance.tags:
        acquisition["tags"] = sorted(set(provenance.tags))
    return {**acquisition, "fs_times": stored.fs_times, "provenance": provenance.to_json()}


# What this write transaction created and has not necessarily flushed yet: items are inserted
# together when it commits (one batched INSERT), so lookups must also see the pending ones.
_NEXT_NUM = "custody_next_item_num"


NEW_ITEMS = "custody_new_items_by_sha256"


_NEW_CASES = "custody_new_item_cases"


def _next_num(session: Session) -> int:
    num: int | None = session.info.get(_NEXT_NUM)
    if num is None:
        with session.no_autoflush:
            num = (session.scalar(select(func.max(Item.num))) or 0) + 1
    session.info[_NEXT_NUM] = num + 1
    return num


_KNOWN_ITEMS = "custody_known_items_by_sha256"


def find_item(session: Session, sha256: str) -> Item | None:
    """The item holding these bytes, including one made earlier in this transaction."""
    pending: dict[str, Item] = session.info.get(NEW_ITEMS, {})
    if sha256 in pending:
        return pending[sha256]
    known: dict[str, Item | None] = session.info.get(_KNOWN_ITEMS, {})
    if sha256 in known:
        return known[sha256]
    with session.no_autoflush:
        return session.scalars(select(Item).where(Item.sha256 == sha256)).first()


def _look_up_items(session: Session, digests: Iterable[str]) -> None:
    """Find the items of a whole batch in one query; ``find_item`` then answers from memory.

    Sound only inside a write transaction: it holds the archive's write lock, so no other
    process can add an item for one of these digests before it commits.
    """
    wanted = sorted(set(digests))
    known: dict[str, Item | None] = session.info.setdefault(_KNOWN_ITEMS, {})
    with session.no_autoflush:
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            known.update(dict.fromkeys(part))
            for item in session.scalars(select(Item).where(Item.sha256.in_(part))):
                known[item.sha256] = item


def add_case(session: Session, item_id: str, case: str | None) -> None:
    if not case:
        return
    added: set[tuple[str, str]] = session.info.setdefault(_NEW_CASES, set())
    if (item_id, case) in added:
        return
    with session.no_autoflush:
        known = session.get(ItemCase, (item_id, case)) is not None
    if not known:
        session.add(ItemCase(item_id=item_id, case_id=case))
        added.add((item_id, case))


@dataclass
class _Entry:
    """One file's part of a transaction, decided and built before anything is signed."""

    item_id: str
    action: str  # "ingest" (a new item) or "acquire" (known bytes again)
    payload: dict[str, object]  # an ingest's gains its record_sha256 once the record is signed
    case: str | None
    row: Item | None = None  # a new item's row, completed with its signed record
    record: records.ItemRecord | None = None


def _plan_new(
    acting: Acting,
    session: Session,
    digests: Digests,
    media_type: str,
    acquisition: dict[str, Any],
    extra: Mapping[str, object] | None,
) -> _Entry:
    num = _next_num(session)
    item_id = f"EV-{num:06d}"
    # The source path and provenance are signed as salted digests, so an export can withhold them.
    committed = disclosure.commit(acting.archive.store, acquisition)
    record = records.ItemRecord.from_json(
        {
            **committed,
            **(extra or {}),
            "type": records.RECORD_TYPE,
            "archive": acting.archive.config.archive_id,
            "item_id": item_id,
            "sha256": digests.sha256,
            "blake3": digests.blake3,
            "size": digests.size,
            "media_type": media_type,
            "ingested_at": iso(utc_now()),  # replaced by the moment it is signed (_sign_and_log)
            "ingested_by": acting.key_id,
        }
    )
    row = Item(
        item_id=item_id, num=num, sha256=digests.sha256, blake3=digests.blake3, size=digests.size, media_type=media_type
    )
    # Seen by find_item from here on, so the same bytes again in this transaction become an acquisition.
    session.info.setdefault(NEW_ITEMS, {})[digests.sha256] = row
    case = acquisition["provenance"].get("case")
    return _Entry(item_id, "ingest", {"sha256": digests.sha256}, case, row, record)


def _plan_acquisition(acting: Acting, existing: Item, acquisition: dict[str, Any]) -> _Entry:
    # Committed like a record's, so the event can travel in a bundle that withholds these values.
    committed = disclosure.commit(acting.archive.store, acquisition)
    payload: dict[str, object] = {"sha256": existing.sha256, "acquisition": committed}
    return _Entry(existing.item_id, "acquire", payload, acquisition["provenance"].get("case"))


def _sign_and_log(acting: Acting, session: Session, entries: list[_Entry]) -> list[int]:
    """Sign the new records, then log every entry's event, in order; returns the event seqs.

    Records are signed together and the events as one chain: with the unlock agent, two requests
    for a whole batch instead of two per file.
    """
    new = [(entry, entry.row, entry.record) for entry in entries if entry.row is not None and entry.record is not None]
    # Records and events are dated with the one moment they are signed: a batch planned over a slow store
    # must not date its first records minutes before their ingest events (the record rules compare them).
    now = utc_now()
    signed_records = records.sign_many([replace(record, ingested_at=iso(now)) for _, _, record in new], acting.signer)
    for (entry, row, _record), signed in zip(new, signed_records, strict=True):
        row.record = signed.text
        row.signer_key_id = signed.signer_key_id
        row.signature = signed.signature
        session.add(row)
        entry.payload["record_sha256"] = sha256_hex(signed.text.encode("utf-8"))
    events = acting.append_many(session, [(entry.action, entry.payload, entry.item_id) for entry in entries], now)
    for entry in entries:
        add_case(session, entry.item_id, entry.case)
    return [event.seq for event in events]


def new_item(
    acting: Acting,
    session: Session,
    digests: Digests,
    media_type: str,
    acquisition: dict[str, Any],
    extra: Mapping[str, object] | None = None,
) -> tuple[str, int]:
    """Create, sign and log a new item inside a write transaction; returns (item id, event seq)."""
    entry = _plan_new(acting, session, digests, media_type, acquisition, extra)
    (seq,) = _sign_and_log(acting, session, [entry])
    return entry.item_id, seq


def add_acquisition(acting: Acting, session: Session, existing: Item, acquisition: dict[str, Any]) -> int:
    """Log another acquisition of bytes the archive already holds; returns the event seq."""
    (seq,) = _sign_and_log(acting, session, [_plan_acquisition(acting, existing, acquisition)])
    return seq


def _plan_file(
    acting: Acting,
    session: Session,
    source: Source,
    stored: Stored,
    provenance: records.Provenance,
    derived_from: Mapping[str, object] | None,
) -> tuple[_Entry, IngestResult]:
    """Decide what one stored file becomes (a new item or an acquisition) and build it, unsigned.

    The result's ``event_seq`` is filled in once the transaction's events are appended.
    """
    existing = find_item(session, stored.digests.sha256)
    acquisition = _acquisition(source, stored, provenance)
    if existing is not None and derived_from is not None:
        raise InputError(
            f"{source.path}: has the same bytes as {existing.item_id}; a working copy must differ from its source"
        )
    if existing is None:
        extraction = stored.extraction
        collected = parse_iso(provenance.collected_at, "collected_at") if provenance.collected_at else None
        flags = compute_flags(
            extraction.metadata,
            extraction.warnings,
            ingested_at=utc_now(),
            collected_at=collected,
            fs_mtime=stored.fs_mtime,
            name=source.path.name,
            media_type=stored.media_type,
            size=stored.digests.size,
            extracted=extraction.flags,
        )
        extra = {"metadata": extraction.metadata, "flags": flags, "warnings": extraction.warnings}
        if derived_from is not None:
            extra["derived_from"] = derived_from
        entry = _plan_new(acting, session, stored.digests, stored.media_type, acquisition, extra)
        duplicate_of = None
        media_type = stored.media_type
    else:
        entry = _plan_acquisition(acting, existing, acquisition)
        duplicate_of = existing.item_id
        media_type = existing.media_type
    result = IngestResult(
        item_id=entry.item_id,
        sha256=stored.digests.sha256,
        blake3=stored.digests.blake3,
        size=stored.digests.size,
        media_type=media_type,
        original_name=acquisition["original_name"],
        source_path=acquisition["source_path"],
        duplicate_of=duplicate_of,
        event_seq=-1,
    )
    return entry, result


def record_many(
    acting: Acting,
    session: Session,
    files: Sequence[tuple[Source, Stored, records.Provenance, Mapping[str, object] | None]],
) -> list[IngestResult]:
    """Sign and log stored files (source, stored, provenance, derived_from) in the caller's write transaction."""
    planned = [_plan_file(acting, session, *file) for file in files]
    seqs = _sign_and_log(acting, session, [entry for entry, _result in planned])
    return [replace(result, event_seq=seq) for (_entry, result), seq in zip(planned, seqs, strict=True)]


def record_one(
    acting: Acting,
    session: Session,
    source: Source,
    stored: Stored,
    provenance: records.Provenance,
    derived_from: Mapping[str, object] | None = None,
) -> IngestResult:
    """Sign and log one stored file in the caller's write transaction."""
    return record_many(acting, session, [(source, stored, provenance, derived_from)])[0]


def record_batch(
    acting: Acting, sources: list[tuple[Source, records.Provenance]], blobs: list[Stored]
) -> list[IngestResult]:
    """Make a stored batch durable, then sign and log it in one transaction."""
    acting.archive.store.sync()
    with acting.writing() as session:
        _look_up_items(session, (blob.digests.sha256 for blob in blobs))
        files = [(source, blob, provenance, None) for (source, provenance), blob in zip(sources, blobs, strict=True)]
        results = record_many(acting, session, files)
        # The withheld values' blobs are durable before the records that commit to them.
        acting.archive.store.sync()
        return results
