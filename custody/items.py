"""Reading the archive: listing items, showing one with its history, getting its bytes out."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import deliveries, disclosure, progress
from .archive import Acting, Archive
from .db.models import Item, ItemCase
from .derivation import DERIVE, source_of
from .errors import InputError, IntegrityError, ItemNotFoundError
from .hashing import copy_and_hash
from .log.events import LogEvent, events_for
from .records import ItemRecord
from .roles import Permission
from .store.base import BlobStore


def get_item(session: Session, item_id: str) -> Item:
    """The item ``item_id``; ItemNotFoundError naming it otherwise."""
    row = session.get(Item, item_id)
    if row is None:
        raise ItemNotFoundError(f"no item '{item_id}' in this archive; 'custody list' shows the ids")
    return row


def named_of_case(session: Session, case_rows: Sequence[Item], item_ids: Sequence[str], case: str) -> list[Item]:
    """The named items among a case's rows, in the case's order: an export, export request or report given both
    item ids and ``--case`` takes those items, as 'custody list' selects them, never the rest of the case.

    Raises:
        ItemNotFoundError: a named item does not exist; InputError: a named item is not in the case.
    """
    wanted = {get_item(session, item_id).item_id for item_id in item_ids}
    outside = sorted(wanted - {row.item_id for row in case_rows})
    if outside:
        raise InputError(f"{', '.join(outside)}: not in case '{case}'; name items of the case, or leave out --case")
    return [row for row in case_rows if row.item_id in wanted]


def stored_record(row: Item) -> ItemRecord:
    """The signed record an item row stores; IntegrityError naming the item if it is not one."""
    try:
        return ItemRecord.from_text(row.record)
    except ValueError as err:
        raise IntegrityError(f"{row.item_id}: its stored record is damaged ({err}); run 'custody verify'") from err


def list_items(acting: Acting, case: str | None = None) -> list[dict[str, object]]:
    """The signed records of every item (of one case, if given), in id order.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
    """
    acting.require(Permission.VIEW)
    with acting.archive.db.read() as session:
        query = select(Item).order_by(Item.num)
        if case is not None:
            query = query.join(ItemCase, ItemCase.item_id == Item.item_id).where(ItemCase.case_id == case)
        return [stored_record(row).to_json() for row in session.scalars(query)]


@dataclass(frozen=True)
class ItemView:
    """One item as ``show`` presents it."""

    record: dict[str, object]
    signature: str
    signer: str
    cases: list[str]
    acquisitions: list[dict[str, object]]
    annotations: list[dict[str, object]]
    events: list[LogEvent]
    derivation: dict[str, object]
    # Provenance corrections (custody.corrections), oldest first; acquisitions[0] shows the current values.
    corrections: list[dict[str, object]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "record": self.record,
            "signature": self.signature,
            "signer": self.signer,
            "cases": self.cases,
            "acquisitions": self.acquisitions,
            "annotations": self.annotations,
            "derivation": self.derivation,
            "corrections": self.corrections,
            "events": [e.to_json() for e in self.events],
        }


def _acquisition(store: BlobStore, seq: int | None, holder: Mapping[str, object], where: str) -> dict[str, object]:
    """One acquisition with its source path and provenance in the clear (opened from its disclosures)."""
    clear = disclosure.opened(store, holder, where)
    return {"seq": seq, "original_name": holder.get("original_name"), "fs_times": holder.get("fs_times"), **clear}


def _view(session: Session, store: BlobStore, item_id: str) -> ItemView:
    row = get_item(session, item_id)
    record = stored_record(row).to_json()
    history = _item_history(session, item_id)
    ingest_seq = next((e.seq for e in history if e.action == "ingest"), None)
    acquisitions = [_acquisition(store, ingest_seq, record, item_id)]
    acquisitions += [
        _acquisition(store, e.seq, e.payload["acquisition"], f"{item_id} (acquire event {e.seq})")
        for e in history
        if e.action == "acquire"
    ]
    superseded = {e.payload.get("supersedes") for e in history if e.action == "annotate"}
    link = source_of(record)
    derivation: dict[str, object] = {
        "derived_from": dict(link) if link is not None else None,
        "derived_items": [
            {"seq": e.seq, "item_id": e.payload.get("derived_item"), "relation": e.payload.get("relation"),
             "method": e.payload.get("method")}
            for e in history
            if e.action == DERIVE and e.item == item_id
        ],
    }  # fmt: skip
    annotations = [
        {
            "seq": e.seq,
            "time": e.time,
            "actor": e.actor,
            "text": e.payload["text"],
            "tags": e.payload.get("tags", []),
            "supersedes": e.payload.get("supersedes"),
            "superseded": e.seq in superseded,
        }
        for e in history
        if e.action == "annotate"
    ]
    cases = sorted(session.scalars(select(ItemCase.case_id).where(ItemCase.item_id == item_id)))
    from .corrections import apply

    stated = acquisitions[0].get("provenance")
    corrected = dict(stated) if isinstance(stated, Mapping) else {}
    fixes, _texts = apply(store, item_id, corrected, history)
    acquisitions[0] = {**acquisitions[0], "provenance": corrected}
    return ItemView(
        record, row.signature, row.signer_key_id, cases, acquisitions, annotations, history, derivation,
        [c.to_json() for c in fixes],
    )  # fmt: skip


def show_item(acting: Acting, item_id: str) -> ItemView:
    """The record, acquisitions and annotations of one item; the view itself is logged.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        ItemNotFoundError: no such item.
        IntegrityError: the item's stored record does not parse.
    """
    acting.unlock()
    acting.require(Permission.VIEW, item_id)
    with acting.writing() as session:
        get_item(session, item_id)
        acting.append(session, "view", {}, item=item_id)
        return _view(session, acting.archive.store, item_id)


def get_content(acting: Acting, item_id: str, out: Path, purpose: str) -> Path:
    """Copy an item's bytes to ``out``, re-checking both digests; logged with the purpose.

    Nothing appears at ``out`` until the ``access`` event is committed: the copy is written to a
    private temp file beside it (journalled, see custody.deliveries) and renamed afterwards.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        ItemNotFoundError: no such item.
        InputError: no purpose, or an --out that exists or cannot be written.
        IntegrityError: the stored bytes no longer match the record (nothing is delivered).
    """
    if not purpose.strip():
        raise InputError(f"get {item_id}: --purpose must say why the bytes are taken out")
    acting.unlock()
    acting.require(Permission.ACCESS, item_id)
    archive: Archive = acting.archive
    with archive.db.read() as session:
        row = get_item(session, item_id)
        sha256, blake3_hex, size = row.sha256, row.blake3, row.size
    target = out / parse_name(archive, item_id) if out.is_dir() else out
    if target.exists() or target.is_symlink():
        raise InputError(f"{target}: already exists; choose another --out path (nothing is overwritten)")
    tmp = deliveries.temp_beside(target)
    deliveries.sweep(acting)
    with deliveries.delivering(acting, "get", tmp, target, item=item_id):
        try:
            # Private until the access event is committed: only then does the copy take its name.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as dst, archive.store.open_read(sha256) as src:
                progress.begin(f"get {item_id}", size)
                got = copy_and_hash(src, dst.write, lambda chunk: progress.advance(len(chunk)))
                dst.flush()
                os.fsync(dst.fileno())
            if (got.sha256, got.blake3, got.size) != (sha256, blake3_hex, size):
                raise IntegrityError(
                    f"{item_id}: stored bytes no longer match the recorded digests; nothing was written. "
                    "Run 'custody verify' and alert the archive's administrator"
                )
            with acting.writing() as session:
                acting.append(
                    session,
                    "access",
                    {"purpose": purpose, "kind": "get", "sha256": sha256, "out_name": target.name},
                    item=item_id,
                )
            os.replace(tmp, target)
        except OSError as exc:
            raise InputError(f"{target}: cannot write ({exc.strerror})") from None
        finally:
            tmp.unlink(missing_ok=True)
    return target


def parse_name(archive: Archive, item_id: str) -> str:
    """The original file name of an item, for outputs named after it."""
    with archive.db.read() as session:
        name = stored_record(get_item(session, item_id)).original_name
    return Path(str(name)).name or item_id


def history(acting: Acting, item_id: str | None = None) -> list[LogEvent]:
    """The custody log (of one item, if given) in ``seq`` order.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        ItemNotFoundError: no such item.
    """
    acting.require(Permission.VIEW, item_id)
    with acting.archive.db.read() as session:
        if item_id is None:
            return events_for(session, None)
        get_item(session, item_id)
        return _item_history(session, item_id)


def _item_history(session: Session, item_id: str) -> list[LogEvent]:
    """Every event naming the item; a working copy's includes the derive event logged on its source."""
    return events_for(session, item_id)
