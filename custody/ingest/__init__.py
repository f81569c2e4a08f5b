"""Ingest: hash (SHA-256 + BLAKE3) while storing, in one read, then sign and log the item.

The package: ``sources`` (paths, checked up front) and ``manifests`` (CSV batches), ``pipeline`` (the store
workers), ``catalog`` (items, acquisitions, cases), ``options`` (``IngestOptions``, the tuning). This module
holds the entry points.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

from .. import diskspace, records
from ..archive import Acting
from ..canonical import parse
from ..db.models import Item
from ..errors import InputError, StoreError
from ..hashing import sha256_hex
from ..roles import Permission
from .catalog import NEW_ITEMS, IngestResult, add_acquisition, find_item, new_item, record_batch, record_one
from .options import DEFAULT_OPTIONS, IngestOptions
from .pipeline import Stored, batches, open_storer
from .sources import Source, collect, refuse_archive_files

__all__ = [
    "IngestOptions",
    "IngestResult",
    "Source",
    "add_acquisition",
    "collect",
    "find_item",
    "ingest",
    "ingest_batch",
    "ingest_derived",
    "ingest_manifest",
    "ingest_one",
    "new_item",
]


def ingest_batch(
    acting: Acting,
    sources: list[tuple[Source, records.Provenance]],
    on_bytes: Callable[[int], None] = lambda _n: None,
    on_start: Callable[[list[Source]], None] = lambda _s: None,
    options: IngestOptions = DEFAULT_OPTIONS,
) -> list[IngestResult]:
    """Store each file (one read, both digests), then sign and log them all in one transaction.

    An interruption leaves no row and no event for the batch; blobs already stored are complete
    and content-addressed, so a re-run finds them and only records them.
    """
    with open_storer(acting, on_bytes, len(sources), options) as storer:
        on_start([source for source, _p in sources])
        stored = storer.finish(storer.start([source for source, _p in sources]))
    return record_batch(acting, sources, stored)


def ingest_one(
    acting: Acting,
    source: Source,
    provenance: records.Provenance,
    on_bytes: Callable[[int], None] = lambda _n: None,
    options: IngestOptions = DEFAULT_OPTIONS,
) -> IngestResult:
    """Ingest one checked file; a second copy of known bytes becomes an acquisition event."""
    return ingest_batch(acting, [(source, provenance)], on_bytes, options=options)[0]


def ingest(
    acting: Acting,
    paths: Iterable[Path],
    provenance: records.Provenance,
    *,
    recursive: bool = False,
    follow_symlinks: bool = False,
    on_bytes: Callable[[int], None] = lambda _n: None,
    on_start: Callable[[list[Source]], None] = lambda _s: None,
    options: IngestOptions = DEFAULT_OPTIONS,
) -> list[IngestResult]:
    """Ingest files (checked up front; any bad path aborts before anything is stored).

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        InputError: a missing, unreadable or unusual path (checked before anything is stored).
        StoreError: the store cannot take the bytes; nothing is recorded for that file.
    """
    acting.unlock()
    acting.require(Permission.INGEST)
    sources = collect(paths, recursive, follow_symlinks)
    refuse_archive_files(sources, acting.archive.config)
    results: list[IngestResult] = []
    in_batches = list(batches(sources, options))
    # Files handed to the storer and not yet recorded, to say what a failure left stored (custody.diskspace).
    pending: list[tuple[Source, Future[Stored]]] = []
    try:
        with open_storer(acting, on_bytes, len(sources), options) as storer:
            on_start(sources)
            started = storer.start(in_batches[0]) if in_batches else []
            pending.extend(zip(in_batches[0] if in_batches else [], started, strict=True))
            for i, batch in enumerate(in_batches):
                stored = storer.finish(started)
                # The next batch is read and hashed while this one is signed and logged.
                started = storer.start(in_batches[i + 1]) if i + 1 < len(in_batches) else []
                pending.extend(zip(in_batches[i + 1] if i + 1 < len(in_batches) else [], started, strict=True))
                results.extend(record_batch(acting, [(source, provenance) for source in batch], stored))
                del pending[: len(batch)]
    except (InputError, StoreError) as exc:
        if not pending:
            raise
        done = [src.path for src, fut in pending if fut.done() and not fut.cancelled() and fut.exception() is None]
        untouched = [src.path for src, fut in pending if src.path not in set(done)]
        rest = len(sources) - len(results) - len(pending)
        raise exc.__class__(diskspace.outcome(str(exc), len(results), done, untouched, rest)) from None
    return results


def ingest_derived(
    acting: Acting,
    source_item: str,
    path: Path,
    relation: str,
    method: str,
    tool: str | None,
    provenance: records.Provenance,
    recipe: list[str] | None = None,
    options: IngestOptions = DEFAULT_OPTIONS,
) -> IngestResult:
    """Ingest ``path`` as a working copy of ``source_item``: its signed record names the source and relation.

    A ``derive`` event is logged on the source (so its history shows the copy) in the same transaction.
    ``recipe``: ffmpeg arguments that reproduce the copy from the source (``verify --rederive``).
    Raises InputError for an unknown relation, an empty method, or bytes the archive already holds.
    """
    from ..derivation import DERIVE, RELATIONS
    from ..items import get_item

    if relation not in RELATIONS:
        raise InputError(f"derive: --relation must be one of {', '.join(RELATIONS)}, not '{relation}'")
    if not method.strip():
        raise InputError("derive: --method must say how the copy was made")
    acting.unlock()
    acting.require(Permission.INGEST, source_item)
    with acting.archive.db.read() as session:
        source_row = get_item(session, source_item)
        source_record = parse(source_row.record)
    if provenance.case is None:
        # A working copy belongs to its source's case unless told otherwise.
        provenance = replace(provenance, case=(source_record.get("provenance") or {}).get("case"))
    (checked,) = collect([path], False, False)
    refuse_archive_files([checked], acting.archive.config)
    with open_storer(acting, lambda _n: None, 1, options) as storer:
        (stored,) = storer.finish(storer.start([checked]))
    acting.archive.store.sync()
    link: dict[str, object] = {
        "item_id": source_item,
        "sha256": source_row.sha256,
        "record_sha256": sha256_hex(source_row.record.encode("utf-8")),
        "relation": relation,
        "method": method,
        "tool": tool,
    }
    if recipe is not None:
        link["recipe"] = {"program": "ffmpeg", "args": recipe, "suffix": path.suffix}
    with acting.writing() as session:
        result = record_one(acting, session, checked, stored, provenance, link)
        row: Item = session.info[NEW_ITEMS][stored.digests.sha256]
        acting.append(
            session,
            DERIVE,
            {
                "derived_item": result.item_id,
                "relation": relation,
                "method": method,
                "record_sha256": sha256_hex(row.record.encode("utf-8")),
            },
            item=source_item,
        )
        acting.archive.store.sync()
        return result


def ingest_manifest(
    acting: Acting,
    manifest: Path,
    defaults: records.Provenance,
    *,
    follow_symlinks: bool = False,
    on_bytes: Callable[[int], None] = lambda _n: None,
    on_start: Callable[[list[Source]], None] = lambda _s: None,
    options: IngestOptions = DEFAULT_OPTIONS,
) -> list[IngestResult]:
    """Ingest a batch described by a CSV (path + provenance columns) all at once, or nothing.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        InputError: an unreadable or malformed manifest, or a bad row (naming it); nothing is ingested.
        StoreError: the store cannot take the bytes.
    """
    from .manifests import read_manifest

    acting.unlock()
    acting.require(Permission.INGEST)
    rows = read_manifest(manifest, defaults, follow_symlinks)
    refuse_archive_files([source for source, _provenance in rows], acting.archive.config)
    return ingest_batch(acting, rows, on_bytes, on_start, options)
