"""Ingest: hash (SHA-256 + BLAKE3) while storing, in one read, then sign and log the item."""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import disclosure, diskspace, records
from .archive import Acting
from .canonical import canonical, parse
from .db.models import Item, ItemCase
from .errors import InputError, StoreError
from .forked import ForkedWorkers, Stopped, can_fork
from .hashing import Digests, DualHasher, sha256_hex
from .metadata import Extraction, compute_flags, extract, sniff_media_type
from .metadata.exiftool import close_all as close_exiftool
from .roles import Permission
from .store.local import LocalBlobStore
from .timeutil import from_timestamp, iso, parse_iso, utc_now

_SNIFF_BYTES = 64 * 1024
# Large reads: a store thread beside the recording thread (where no child process is used) takes
# the GIL a few times per chunk while that thread holds it most of the time, so fewer, larger
# chunks keep it busy; in a child process the size makes little difference.
_STORE_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Source:
    """One file to ingest, already checked to be a readable regular file."""

    path: Path
    follow_symlinks: bool


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

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _inside(path: Path, tree: Path) -> bool:
    return path == tree or tree in path.parents


def _check_file(path: Path, tree: Path, follow: bool) -> Source:
    if path.is_symlink():
        if not follow:
            raise InputError(f"{path}: is a symbolic link; pass --follow-symlinks to ingest its target")
        target = path.resolve()
        if not _inside(target, tree.resolve()):
            raise InputError(f"{path}: symbolic link points outside {tree} (to {target}); refused")
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; check the path") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file (device, socket or pipe); refused")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied; make it readable for this user")
    return Source(path, follow)


def collect(paths: Iterable[Path], recursive: bool, follow_symlinks: bool) -> list[Source]:
    """Check every path before anything is ingested, so a bad one aborts the whole batch."""
    sources: list[Source] = []
    for given in paths:
        if given.is_symlink() or not given.is_dir():
            if not given.exists() and not given.is_symlink():
                raise InputError(f"{given}: no such file or folder; check the path")
            sources.append(_check_file(given, given.parent, follow_symlinks))
            continue
        if not recursive:
            raise InputError(f"{given}: is a folder; pass --recursive to ingest everything in it")
        for dirpath, dirnames, filenames in os.walk(given, followlinks=False):
            dirnames.sort()
            for name in [*sorted(filenames), *[d for d in dirnames if (Path(dirpath) / d).is_symlink()]]:
                candidate = Path(dirpath) / name
                if candidate.is_symlink() and candidate.resolve().is_dir():
                    raise InputError(f"{candidate}: symbolic link to a folder; refused")
                sources.append(_check_file(candidate, given, follow_symlinks))
    return sources


def _open(source: Source) -> int:
    """Open a checked file for reading; refuses one that stopped being a regular file since.

    O_NONBLOCK: opening a FIFO put in the file's place would otherwise wait for a writer for ever.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if source.follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(source.path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"{source.path}: is a symbolic link; pass --follow-symlinks") from None
        raise InputError(f"{source.path}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(
            f"{source.path}: is no longer a regular file (replaced by a pipe, device or socket after it was "
            "checked); refused"
        )
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return fd


def display_name(name: str) -> tuple[str, str | None]:
    """A name as text for records and people, and its exact bytes (base64) when it is not UTF-8.

    Names arrive from the file system as bytes; one that is not valid UTF-8 reaches Python with
    lone surrogates, which no JSON can carry. Its display form escapes the odd bytes (``\\xe9``);
    the base64 of the bytes keeps it losslessly.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(name)
        return raw.decode("utf-8", "backslashreplace"), base64.b64encode(raw).decode("ascii")
    return name, None


@dataclass(frozen=True)
class _Stored:
    digests: Digests
    media_type: str
    fs_times: dict[str, str]
    fs_mtime: datetime
    extraction: Extraction


def _store_raw_metadata(acting: Acting, raw: dict[str, Any]) -> str:
    """Keep the complete tag dump as its own content-addressed JSON blob; returns its SHA-256."""
    data = canonical(raw)
    digest = hashlib.sha256(data).hexdigest()
    writer = acting.archive.store.open_writer(durable=False)
    try:
        writer.write(data)
        writer.commit(digest)
    except BaseException:
        writer.abort()
        raise
    return digest


def _store(
    acting: Acting,
    source: Source,
    on_bytes: Callable[[int], None],
    before_commit: Callable[[], None],
) -> _Stored:
    """Stream the file once into the store, hashing on the way; nothing stays on failure.

    The blob is made durable by the batch's single ``store.sync()`` before anything is recorded.
    When the store is (nearly) full, bytes it already holds are found before any copy (custody.diskspace).
    """
    if diskspace.low_on_space(acting.archive.store, source.path.stat().st_size):
        known = _already_stored(acting, source, on_bytes, before_commit)
        if known is not None:
            return known
    fd = _open(source)
    writer = acting.archive.store.open_writer(durable=False)
    try:
        with os.fdopen(fd, "rb", buffering=0) as fh:
            st = os.fstat(fh.fileno())
            hasher = DualHasher()
            head = b""
            while chunk := fh.read(_STORE_CHUNK):
                if len(head) < _SNIFF_BYTES:
                    head += chunk[: _SNIFF_BYTES - len(head)]
                hasher.update(chunk)
                writer.write(chunk)
                on_bytes(len(chunk))
        digests = hasher.digests()
        media_type = sniff_media_type(head, source.path.name)
        # Metadata is read from our own copy of the bytes, never from the source a second time;
        # messages name the evidence file, never the copy.
        extraction = extract(writer.pending_path, media_type, display_name(source.path.name)[0])
        # The last moment to give up cheaply: once committed, a blob stays (on S3, locked).
        before_commit()
        writer.commit(digests.sha256, digests.blake3)
        if extraction.raw:
            extraction.metadata["raw_sha256"] = _store_raw_metadata(acting, extraction.raw)
    except OSError as exc:
        writer.abort()
        if diskspace.is_full(exc):
            raise StoreError(f"{source.path}: the store is full ({exc.strerror}); this file was not stored") from None
        raise InputError(f"{source.path}: read failed ({exc.strerror}); this file was not stored") from None
    except StoreError as exc:
        writer.abort()
        raise StoreError(f"{source.path}: not stored: {exc}") from None
    except BaseException:
        writer.abort()
        raise
    fs_times = {
        "modified": from_timestamp(st.st_mtime),
        "accessed": from_timestamp(st.st_atime),
        "changed": from_timestamp(st.st_ctime),
    }
    # The raw dump is kept in its own blob (above); the record needs only the summary.
    extraction = replace(extraction, raw={})
    return _Stored(digests, media_type, fs_times, datetime.fromtimestamp(st.st_mtime, UTC), extraction)


def _already_stored(
    acting: Acting, source: Source, on_bytes: Callable[[int], None], before_commit: Callable[[], None]
) -> _Stored | None:
    """Hash the file without copying it; if the store holds those bytes, the stored blob (None otherwise)."""
    store = acting.archive.store
    try:
        with os.fdopen(_open(source), "rb", buffering=0) as fh:
            st = os.fstat(fh.fileno())
            hasher = DualHasher()
            head = b""
            while chunk := fh.read(_STORE_CHUNK):
                if len(head) < _SNIFF_BYTES:
                    head += chunk[: _SNIFF_BYTES - len(head)]
                hasher.update(chunk)
                on_bytes(len(chunk))
    except OSError as exc:
        raise InputError(f"{source.path}: read failed ({exc.strerror}); this file was not stored") from None
    digests = hasher.digests()
    path = diskspace.local_blob_path(store, digests.sha256)
    if path is None:
        return None
    media_type = sniff_media_type(head, source.path.name)
    extraction = extract(path, media_type, display_name(source.path.name)[0])
    before_commit()
    if extraction.raw:
        raw_sha = hashlib.sha256(canonical(extraction.raw)).hexdigest()
        stored_raw = diskspace.local_blob_path(store, raw_sha) is not None
        extraction.metadata["raw_sha256"] = raw_sha if stored_raw else _store_raw_metadata(acting, extraction.raw)
    fs_times = {
        "modified": from_timestamp(st.st_mtime),
        "accessed": from_timestamp(st.st_atime),
        "changed": from_timestamp(st.st_ctime),
    }
    extraction = replace(extraction, raw={})
    return _Stored(digests, media_type, fs_times, datetime.fromtimestamp(st.st_mtime, UTC), extraction)


def _acquisition(source: Source, stored: _Stored, provenance: records.Provenance) -> dict[str, Any]:
    name, name_bytes = display_name(source.path.name)
    path, path_bytes = display_name(str(source.path.absolute()))
    acquisition: dict[str, Any] = {"original_name": name, "source_path": path}
    if name_bytes is not None:
        acquisition["original_name_bytes_b64"] = name_bytes
    if path_bytes is not None:
        acquisition["source_path_bytes_b64"] = path_bytes
    return {**acquisition, "fs_times": stored.fs_times, "provenance": provenance.to_json()}


# What this write transaction created and has not necessarily flushed yet: items are inserted
# together when it commits (one batched INSERT), so lookups must also see the pending ones.
_NEXT_NUM = "custody_next_item_num"
_NEW_ITEMS = "custody_new_items_by_sha256"
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
    pending: dict[str, Item] = session.info.get(_NEW_ITEMS, {})
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


def new_item(
    acting: Acting,
    session: Session,
    digests: Digests,
    media_type: str,
    acquisition: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> tuple[str, int]:
    """Create, sign and log a new item inside a write transaction; returns (item id, event seq)."""
    num = _next_num(session)
    item_id = f"EV-{num:06d}"
    # The source path and provenance are signed as salted digests, so an export can withhold them.
    committed = disclosure.commit(acting.archive.store, acquisition)
    record: dict[str, Any] = {
        "type": records.RECORD_TYPE,
        "archive": acting.archive.config.archive_id,
        "item_id": item_id,
        "sha256": digests.sha256,
        "blake3": digests.blake3,
        "size": digests.size,
        "media_type": media_type,
        **committed,
        "ingested_at": iso(utc_now()),
        "ingested_by": acting.key_id,
        **(extra or {}),
    }
    signed = records.sign(record, acting.signer)
    row = Item(
        item_id=item_id,
        num=num,
        sha256=digests.sha256,
        blake3=digests.blake3,
        size=digests.size,
        media_type=media_type,
        record=signed.text,
        signer_key_id=signed.signer_key_id,
        signature=signed.signature,
    )
    session.add(row)
    session.info.setdefault(_NEW_ITEMS, {})[digests.sha256] = row
    event = acting.append(
        session,
        "ingest",
        {"record_sha256": sha256_hex(signed.text.encode("utf-8")), "sha256": digests.sha256},
        item=item_id,
    )
    add_case(session, item_id, acquisition["provenance"].get("case"))
    return item_id, event.seq


def add_acquisition(acting: Acting, session: Session, existing: Item, acquisition: dict[str, Any]) -> int:
    """Log another acquisition of bytes the archive already holds; returns the event seq."""
    # Committed like a record's, so the event can travel in a bundle that withholds these values.
    committed = disclosure.commit(acting.archive.store, acquisition)
    seq = acting.append(
        session, "acquire", {"sha256": existing.sha256, "acquisition": committed}, item=existing.item_id
    ).seq
    add_case(session, existing.item_id, acquisition["provenance"].get("case"))
    return seq


# Files are stored one by one, then recorded together: one transaction, one checkpoint per batch.
BATCH_FILES = 64
BATCH_BYTES = 256 * 1024 * 1024


def _record_one(
    acting: Acting,
    session: Session,
    source: Source,
    stored: _Stored,
    provenance: records.Provenance,
    derived_from: dict[str, Any] | None = None,
) -> IngestResult:
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
        item_id, seq = new_item(acting, session, stored.digests, stored.media_type, acquisition, extra)
        duplicate_of = None
        media_type = stored.media_type
    else:
        item_id = duplicate_of = existing.item_id
        media_type = existing.media_type
        seq = add_acquisition(acting, session, existing, acquisition)
    return IngestResult(
        item_id=item_id,
        sha256=stored.digests.sha256,
        blake3=stored.digests.blake3,
        size=stored.digests.size,
        media_type=media_type,
        original_name=acquisition["original_name"],
        source_path=acquisition["source_path"],
        duplicate_of=duplicate_of,
        event_seq=seq,
    )


# Reading, hashing and writing release the GIL, so files of a batch are stored side by side.
STORE_WORKERS = max(1, min(4, os.cpu_count() or 1))
# Where the store workers run: None picks a forked child process for a local store where that is
# safe (see custody.forked), else threads of this process; tests set it to exercise each.
STORE_IN_CHILD: bool | None = None


class _Storer:
    """Stores files on worker threads, so one batch can be stored while the one before is recorded.

    Leaving the ``with`` block by an exception (a failed file, a failed recording, Ctrl-C) stops
    every worker at its next chunk or before it commits its blob: each aborts its temp file, so
    only complete, content-addressed blobs remain, which a re-run finds and records.
    """

    def __init__(self, acting: Acting, on_bytes: Callable[[int], None], files: int) -> None:
        self._acting = acting
        self._on_bytes = on_bytes
        self._stop = threading.Event()
        workers = max(1, min(STORE_WORKERS, files))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="custody-store")

    def __enter__(self) -> _Storer:
        return self

    def __exit__(self, exc_type: object, *_rest: object) -> None:
        if exc_type is not None:
            self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        # The workers' ExifTool ends with the ingest (in a child, it ends with the child's threads).
        close_exiftool()

    def _check(self) -> None:
        if self._stop.is_set():
            raise Stopped

    def _progress(self, n: int) -> None:
        self._check()
        self._on_bytes(n)

    def start(self, sources: list[Source]) -> list[Future[_Stored]]:
        """Begin storing a batch."""
        return [self._pool.submit(_store, self._acting, source, self._progress, self._check) for source in sources]

    def finish(self, futures: list[Future[_Stored]]) -> list[_Stored]:
        """The stored files of a batch, in order; raises the first failure (the exit stops the rest)."""
        wait(futures, return_when=FIRST_EXCEPTION)
        return _results(futures)


def _results(futures: list[Future[_Stored]]) -> list[_Stored]:
    """The results of a stored batch; raises its first failure (``futures`` are done or one failed)."""
    for future in futures:
        if future.done() and (exc := future.exception()) is not None:
            raise exc
    return [future.result() for future in futures]


class _ChildStorer:
    """Stores files on threads of a forked child process, with the interface of ``_Storer``.

    Leaving the ``with`` block by an exception tells the child to stop: each task aborts its temp
    file at its next chunk or before it commits its blob, and the block ends only once the child
    has, so again only complete, content-addressed blobs remain.
    """

    def __init__(self, acting: Acting, on_bytes: Callable[[int], None], files: int) -> None:
        self._on_bytes = on_bytes

        def task(source: Source, progress: Callable[[int], None], check: Callable[[], None]) -> _Stored:
            return _store(acting, source, progress, check)

        self._workers: ForkedWorkers[Source, _Stored] = ForkedWorkers(task, max(1, min(STORE_WORKERS, files)))

    def __enter__(self) -> _ChildStorer:
        return self

    def __exit__(self, exc_type: object, *_rest: object) -> None:
        self._workers.close(stop=exc_type is not None)

    def start(self, sources: list[Source]) -> list[Future[_Stored]]:
        """Begin storing a batch."""
        return self._workers.submit(sources)

    def finish(self, futures: list[Future[_Stored]]) -> list[_Stored]:
        """The stored files of a batch, in order; raises the first failure (the exit stops the rest)."""
        self._workers.wait(futures, self._on_bytes)
        return _results(futures)


def _storer(acting: Acting, on_bytes: Callable[[int], None], files: int) -> _Storer | _ChildStorer:
    """Store workers for an ingest: call before any other thread starts (a progress bar's, say)."""
    in_child = STORE_IN_CHILD
    if in_child is None:
        in_child = isinstance(acting.archive.store, LocalBlobStore) and can_fork()
    if in_child:
        try:
            return _ChildStorer(acting, on_bytes, files)
        except OSError:
            pass  # no process or pipe to spare (a process limit, say): threads do the same work
    return _Storer(acting, on_bytes, files)


def _record_batch(
    acting: Acting, sources: list[tuple[Source, records.Provenance]], blobs: list[_Stored]
) -> list[IngestResult]:
    """Make a stored batch durable, then sign and log it in one transaction."""
    acting.archive.store.sync()
    with acting.writing() as session:
        _look_up_items(session, (blob.digests.sha256 for blob in blobs))
        results = [
            _record_one(acting, session, source, blob, provenance)
            for (source, provenance), blob in zip(sources, blobs, strict=True)
        ]
        # The withheld values' blobs are durable before the records that commit to them.
        acting.archive.store.sync()
        return results


def ingest_batch(
    acting: Acting,
    sources: list[tuple[Source, records.Provenance]],
    on_bytes: Callable[[int], None] = lambda _n: None,
    on_start: Callable[[list[Source]], None] = lambda _s: None,
) -> list[IngestResult]:
    """Store each file (one read, both digests), then sign and log them all in one transaction.

    An interruption leaves no row and no event for the batch; blobs already stored are complete
    and content-addressed, so a re-run finds them and only records them.
    """
    with _storer(acting, on_bytes, len(sources)) as storer:
        on_start([source for source, _p in sources])
        stored = storer.finish(storer.start([source for source, _p in sources]))
    return _record_batch(acting, sources, stored)


def ingest_one(
    acting: Acting,
    source: Source,
    provenance: records.Provenance,
    on_bytes: Callable[[int], None] = lambda _n: None,
) -> IngestResult:
    """Ingest one checked file; a second copy of known bytes becomes an acquisition event."""
    return ingest_batch(acting, [(source, provenance)], on_bytes)[0]


def _batches(sources: list[Source]) -> Iterable[list[Source]]:
    batch: list[Source] = []
    size = 0
    for source in sources:
        batch.append(source)
        size += source.path.stat().st_size
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def ingest(
    acting: Acting,
    paths: Iterable[Path],
    provenance: records.Provenance,
    *,
    recursive: bool = False,
    follow_symlinks: bool = False,
    on_bytes: Callable[[int], None] = lambda _n: None,
    on_start: Callable[[list[Source]], None] = lambda _s: None,
) -> list[IngestResult]:
    """Ingest files (checked up front; any bad path aborts before anything is stored)."""
    acting.unlock()
    acting.require(Permission.INGEST)
    sources = collect(paths, recursive, follow_symlinks)
    results: list[IngestResult] = []
    batches = list(_batches(sources))
    # Files handed to the storer and not yet recorded, to say what a failure left stored (custody.diskspace).
    pending: list[tuple[Source, Future[_Stored]]] = []
    try:
        with _storer(acting, on_bytes, len(sources)) as storer:
            on_start(sources)
            started = storer.start(batches[0]) if batches else []
            pending.extend(zip(batches[0] if batches else [], started, strict=True))
            for i, batch in enumerate(batches):
                stored = storer.finish(started)
                # The next batch is read and hashed while this one is signed and logged.
                started = storer.start(batches[i + 1]) if i + 1 < len(batches) else []
                pending.extend(zip(batches[i + 1] if i + 1 < len(batches) else [], started, strict=True))
                results.extend(_record_batch(acting, [(source, provenance) for source in batch], stored))
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
) -> IngestResult:
    """Ingest ``path`` as a working copy of ``source_item``: its signed record names the source and relation.

    A ``derive`` event is logged on the source (so its history shows the copy) in the same transaction.
    ``recipe``: ffmpeg arguments that reproduce the copy from the source (``verify --rederive``).
    Raises InputError for an unknown relation, an empty method, or bytes the archive already holds.
    """
    from .derivation import DERIVE, RELATIONS
    from .items import get_item

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
    with _storer(acting, lambda _n: None, 1) as storer:
        (stored,) = storer.finish(storer.start([checked]))
    acting.archive.store.sync()
    link: dict[str, Any] = {
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
        result = _record_one(acting, session, checked, stored, provenance, link)
        row: Item = session.info[_NEW_ITEMS][stored.digests.sha256]
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
) -> list[IngestResult]:
    """Ingest a batch described by a CSV (path + provenance columns) all at once, or nothing."""
    from .manifest import read_manifest

    acting.unlock()
    acting.require(Permission.INGEST)
    rows = read_manifest(manifest, defaults, follow_symlinks)
    return ingest_batch(acting, rows, on_bytes, on_start)


def record_of(item: Item) -> dict[str, Any]:
    """The parsed signed record of an item."""
    result: dict[str, Any] = parse(item.record)
    return result
