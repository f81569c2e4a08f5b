"""Import: take a verified bundle's items in, keep the sender's proofs verbatim, log our receipt."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from .. import deliveries, disclosure, progress
from ..archive import Acting
from ..canonical import canonical_text
from ..catalog_check import import_digests
from ..db.models import ImportedEvent, ImportedKey, ImportedRecord, ImportRow
from ..errors import BundleError, IntegrityError
from ..hashing import Digests, copy_and_hash
from ..ingest import add_acquisition, find_item, new_item
from ..keys import b64
from ..log import note
from ..roles import Permission
from . import layout
from .check import check_bundle, plain_zip
from .safezip import SafeBundle, open_bundle


@dataclass(frozen=True)
class ImportResult:
    """What an import did (or that it had been done before)."""

    bundle_id: str
    already_imported: bool
    items: dict[str, str]  # sender's item id -> our item id
    receipt_seq: int | None

    def to_json(self) -> dict[str, object]:
        return {
            "bundle_id": self.bundle_id,
            "already_imported": self.already_imported,
            "items": self.items,
            "receipt_seq": self.receipt_seq,
        }


@contextmanager
def private_bundle(path: Path, identity: Path | None, folder: Path) -> Iterator[SafeBundle]:
    """The bundle read once into a private (0700) temp folder in ``folder``: decrypted, or copied if plain.

    Verification and import then use these bytes, whatever happens to ``path`` meanwhile.
    """
    folder.mkdir(mode=0o700, exist_ok=True)
    with plain_zip(path, identity, folder) as zip_path:
        if zip_path != path:
            with open_bundle(zip_path, shown=path) as bundle:
                yield bundle
            return
        with tempfile.TemporaryDirectory(prefix="custody-import-", dir=folder) as tmp:
            copy = Path(tmp) / "bundle.zip"
            try:
                shutil.copyfile(path, copy)
            except OSError as exc:
                raise BundleError(f"{path}: cannot read ({exc.strerror})") from None
            with open_bundle(copy, shown=path) as bundle:
                yield bundle


def _store_payload(acting: Acting, bundle: SafeBundle, name: str, record: Mapping[str, object]) -> None:
    writer = acting.archive.store.open_writer()
    try:
        with bundle.open(name) as fh:
            got = copy_and_hash(fh, writer.write, lambda chunk: progress.advance(len(chunk)))
        if (got.sha256, got.blake3) != (record["sha256"], record["blake3"]):
            raise IntegrityError(f"{bundle.path}: {name} changed while importing; nothing was imported")
        writer.commit(got.sha256, got.blake3)
    except BaseException:
        writer.abort()
        raise


def import_bundle(acting: Acting, path: Path, identity: Path | None = None, vkey: str | None = None) -> ImportResult:
    """Verify a bundle completely, then import it in one transaction; a second import is a no-op.

    ``vkey`` pins the sending archive's verifier key: a bundle from any other archive is refused.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        InputError: the file, identity or verifier key cannot be read or does not match.
        BundleError, IntegrityError, ProofError: the bundle fails verification; nothing is imported.
    """
    acting.unlock()
    acting.require(Permission.IMPORT)
    folder = acting.archive.config.root / deliveries.PRIVATE_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    deliveries.sweep(acting)
    # Journalled like a delivery: a killed import's decrypted copy is removed by the next run.
    with (
        tempfile.TemporaryDirectory(prefix=deliveries.IMPORT_PREFIX, dir=folder) as work,
        deliveries.delivering(acting, "import", Path(work), Path(work), bundle=str(path)),
        private_bundle(path, identity, Path(work)) as bundle,
    ):
        return _import_opened(acting, path, bundle, vkey)


def _import_opened(acting: Acting, path: Path, bundle: SafeBundle, vkey_pin: str | None) -> ImportResult:
    bundle_id = bundle.root
    # Verified before anything else, also when this bundle id was imported already: the id is only the zip's
    # folder name, so an altered copy under it must fail, not pass as "already imported".
    report = check_bundle(bundle, vkey=vkey_pin)
    if not report.ok:
        first = report.failures[0]
        raise BundleError(
            f"{path}: bundle {bundle_id} fails verification ({len(report.failures)} failed checks, first: "
            f"{first.check} {first.subject}: {first.detail}); nothing was imported. Run 'custody verify-bundle'"
        )
    seal = bundle.read(layout.SEAL_SIG)
    with acting.archive.db.read() as session:
        previous = session.get(ImportRow, bundle_id)
        if previous is not None:
            if previous.seal != b64(seal):
                raise BundleError(
                    f"{path}: bundle {bundle_id} was imported before (receipt event {previous.receipt_seq}) with "
                    "another seal; this is not that bundle; nothing was imported"
                )
            mapped = {
                r.original_item_id: r.local_item_id
                for r in session.scalars(select(ImportedRecord).where(ImportedRecord.bundle_id == bundle_id))
            }
            return ImportResult(bundle_id, True, mapped, previous.receipt_seq)
    signed = json.loads(bundle.read_text(layout.ITEMS))
    events = layout.parse_jsonl(bundle.read_text(layout.EVENTS), layout.EVENTS)
    # Verified above: each disclosure matches the digest a carried record commits to.
    carried = json.loads(bundle.read_text(layout.DISCLOSURES)) if bundle.has(layout.DISCLOSURES) else {}
    vkey = bundle.read_text(layout.VKEY).strip()
    checkpoint_text = bundle.read_text(layout.CHECKPOINT)
    checkpoint = note.open_checkpoint(checkpoint_text, vkey)
    key_files = {
        n[len(layout.KEYS_DIR) :].removesuffix(".pem"): bundle.read_text(n)
        for n in bundle.files
        if n.startswith(layout.KEYS_DIR)
    }
    stored = [layout.entry_path(entry) for entry in signed]
    progress.begin("import", sum(bundle.files[n].file_size for n in stored if n in bundle.files))
    for entry in signed:
        _store_payload(acting, bundle, layout.entry_path(entry), entry["record"])
    export = next(e for e in events if e["action"] == "export" and e["payload"].get("bundle_id") == bundle_id)
    mapping: dict[str, str] = {}
    with acting.writing() as session:
        if session.get(ImportRow, bundle_id) is not None:
            raise BundleError(f"bundle {bundle_id} was imported by another process just now; nothing done")
        for entry in signed:
            mapping[entry["record"]["item_id"]] = _take_item(acting, session, bundle_id, entry, carried)
        acting.archive.store.sync()  # the new records' withheld values, before the records commit
        # The rows are made first so the receipt event can sign a digest of exactly what is stored.
        row = ImportRow(
            bundle_id=bundle_id,
            origin=checkpoint.origin,
            vkey=vkey,
            seal=b64(seal),
            checkpoint=checkpoint_text,
            receipt_seq=-1,
        )
        records = [
            ImportedRecord(
                bundle_id=bundle_id,
                original_item_id=entry["record"]["item_id"],
                local_item_id=mapping[entry["record"]["item_id"]],
                record=canonical_text(entry["record"]),
                signature=entry["signature"],
                signer_key_id=entry["signer"],
            )
            for entry in signed
        ]
        stored_events = [
            ImportedEvent(bundle_id=bundle_id, seq=event["seq"], event=canonical_text(event)) for event in events
        ]
        stored_keys = [
            ImportedKey(bundle_id=bundle_id, key_id=kid, public_key_pem=pem) for kid, pem in sorted(key_files.items())
        ]
        receipt = acting.append(
            session,
            "import",
            {
                "bundle_id": bundle_id,
                "origin": checkpoint.origin,
                "vkey": vkey,
                "seal": b64(seal),
                "seal_sha256": hashlib.sha256(seal).hexdigest(),
                "exported_by": export["actor"],
                "export_seq": export["seq"],
                "checkpoint": {"size": checkpoint.size, "root": checkpoint.root.hex()},
                "items": mapping,
                "stored": import_digests(row, records, stored_events, stored_keys),
            },
        )
        row.receipt_seq = receipt.seq
        session.add(row)
        session.flush()
        session.add_all([*records, *stored_events, *stored_keys])
    return ImportResult(bundle_id, False, mapping, receipt.seq)


def _provenance(record: dict[str, Any], carried: dict[str, str]) -> dict[str, object]:
    """The sender's provenance as far as the bundle discloses it (withheld fields stay unknown: None)."""
    digests = disclosure.committed_digests(record)
    if digests is None:
        return dict(record.get("provenance") or {})
    provenance: dict[str, Any] = {"case": (record.get("provenance") or {}).get("case")}
    for field, digest in digests.items():
        if field not in ("source_path", disclosure.PATH_BYTES):
            text = carried.get(digest)
            provenance[field] = disclosure.parse(text).value if isinstance(text, str) else None
    return provenance


def _take_item(acting: Acting, session: Any, bundle_id: str, entry: dict[str, Any], carried: dict[str, str]) -> str:
    """Our item for one of the sender's: an existing one gains an acquisition, else a new item."""
    record = entry["record"]
    acquisition = {
        "original_name": record["original_name"],
        "source_path": f"bundle:{bundle_id}/{layout.entry_path(entry)}",
        "fs_times": {},
        "provenance": _provenance(record, carried),
    }
    existing = find_item(session, str(record["sha256"]))
    if existing is not None:
        add_acquisition(acting, session, existing, {**acquisition, "imported_from": bundle_id})
        return str(existing.item_id)
    imported = {
        "bundle_id": bundle_id,
        "origin_archive": record.get("archive"),
        "original_item_id": record["item_id"],
        "original_signer": entry["signer"],
        "original_record_sha256": hashlib.sha256(canonical_text(record).encode()).hexdigest(),
    }
    extra: dict[str, Any] = {"imported": imported}
    # The payload was re-hashed against these values on its way into the store.
    digests = Digests(str(record["sha256"]), str(record["blake3"]), int(record["size"]))
    if "metadata" in record:
        extra["metadata"] = record["metadata"]
    item_id, _seq = new_item(acting, session, digests, record["media_type"], acquisition, extra)
    return item_id
