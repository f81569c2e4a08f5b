"""The store pipeline of an ingest: files read once, hashed and stored by workers (threads or a forked child).

A batch is stored while the one before it is recorded (custody.ingest.catalog). Leaving a storer's ``with``
block by an exception stops every worker before it commits its blob, so only complete, content-addressed
blobs ever remain.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from .. import diskspace
from ..archive import Acting
from ..canonical import canonical
from ..errors import InputError, StoreError
from ..forked import ForkedWorkers, Stopped, can_fork
from ..hashing import Digests, copy_and_hash
from ..metadata import Extraction, extract, sniff_media_type
from ..metadata.exiftool import close_all as close_exiftool
from ..store.local import LocalBlobStore
from ..timeutil import from_timestamp
from .options import DEFAULT_OPTIONS, IngestOptions
from .sources import Source, display_name, open_checked

_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class Stored:
    digests: Digests
    media_type: str
    fs_times: dict[str, str]
    fs_mtime: datetime
    extraction: Extraction


def _store_raw_metadata(acting: Acting, raw: dict[str, object]) -> str:
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


def store_file(
    acting: Acting,
    source: Source,
    on_bytes: Callable[[int], None],
    before_commit: Callable[[], None],
    chunk_size: int = DEFAULT_OPTIONS.store_chunk,
) -> Stored:
    """Stream the file once into the store, hashing on the way; nothing stays on failure.

    The blob is made durable by the batch's single ``store.sync()`` before anything is recorded.
    When the store is (nearly) full, bytes it already holds are found before any copy (custody.diskspace).
    """
    if diskspace.low_on_space(acting.archive.store, source.path.stat().st_size):
        known = _already_stored(acting, source, on_bytes, before_commit, chunk_size)
        if known is not None:
            return known
    fd = open_checked(source)
    writer = acting.archive.store.open_writer(durable=False)
    try:
        with os.fdopen(fd, "rb", buffering=0) as fh:
            st = os.fstat(fh.fileno())
            reading = _Reading(on_bytes)
            digests = copy_and_hash(fh, reading.keep_head, writer.write, reading.count, chunk_size=chunk_size)
        media_type = sniff_media_type(bytes(reading.head), source.path.name)
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
    return _stored(digests, media_type, st, extraction)


def _already_stored(
    acting: Acting,
    source: Source,
    on_bytes: Callable[[int], None],
    before_commit: Callable[[], None],
    chunk_size: int,
) -> Stored | None:
    """Hash the file without copying it; if the store holds those bytes, the stored blob (None otherwise)."""
    store = acting.archive.store
    reading = _Reading(on_bytes)
    try:
        with os.fdopen(open_checked(source), "rb", buffering=0) as fh:
            st = os.fstat(fh.fileno())
            digests = copy_and_hash(fh, reading.keep_head, reading.count, chunk_size=chunk_size)
    except OSError as exc:
        raise InputError(f"{source.path}: read failed ({exc.strerror}); this file was not stored") from None
    path = diskspace.local_blob_path(store, digests.sha256)
    if path is None:
        return None
    media_type = sniff_media_type(bytes(reading.head), source.path.name)
    extraction = extract(path, media_type, display_name(source.path.name)[0])
    before_commit()
    if extraction.raw:
        raw_sha = hashlib.sha256(canonical(extraction.raw)).hexdigest()
        stored_raw = diskspace.local_blob_path(store, raw_sha) is not None
        extraction.metadata["raw_sha256"] = raw_sha if stored_raw else _store_raw_metadata(acting, extraction.raw)
    return _stored(digests, media_type, st, extraction)


class _Reading:
    """What one pass over a source keeps besides its digests: its first bytes (the media type) and progress."""

    def __init__(self, on_bytes: Callable[[int], None]) -> None:
        self.head = bytearray()
        self._on_bytes = on_bytes

    def keep_head(self, chunk: bytes) -> None:
        if len(self.head) < _SNIFF_BYTES:
            self.head.extend(chunk[: _SNIFF_BYTES - len(self.head)])

    def count(self, chunk: bytes) -> None:
        self._on_bytes(len(chunk))


def _stored(digests: Digests, media_type: str, st: os.stat_result, extraction: Extraction) -> Stored:
    fs_times = {
        "modified": from_timestamp(st.st_mtime),
        "accessed": from_timestamp(st.st_atime),
        "changed": from_timestamp(st.st_ctime),
    }
    # The raw dump is kept in its own blob; the record needs only the summary.
    return Stored(digests, media_type, fs_times, datetime.fromtimestamp(st.st_mtime, UTC), replace(extraction, raw={}))


class _Storer:
    """Stores files on worker threads, so one batch can be stored while the one before is recorded.

    Leaving the ``with`` block by an exception (a failed file, a failed recording, Ctrl-C) stops
    every worker at its next chunk or before it commits its blob: each aborts its temp file, so
    only complete, content-addressed blobs remain, which a re-run finds and records.
    """

    def __init__(self, acting: Acting, on_bytes: Callable[[int], None], files: int, options: IngestOptions) -> None:
        self._acting = acting
        self._on_bytes = on_bytes
        self._stop = threading.Event()
        self._chunk = options.store_chunk
        workers = max(1, min(options.store_workers, files))
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

    def start(self, sources: list[Source]) -> list[Future[Stored]]:
        """Begin storing a batch."""
        acting, progress, check, chunk = self._acting, self._progress, self._check, self._chunk
        return [self._pool.submit(store_file, acting, source, progress, check, chunk) for source in sources]

    def finish(self, futures: list[Future[Stored]]) -> list[Stored]:
        """The stored files of a batch, in order; raises the first failure (the exit stops the rest)."""
        wait(futures, return_when=FIRST_EXCEPTION)
        return results(futures)


def results(futures: list[Future[Stored]]) -> list[Stored]:
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

    def __init__(self, acting: Acting, on_bytes: Callable[[int], None], files: int, options: IngestOptions) -> None:
        self._on_bytes = on_bytes

        def task(source: Source, progress: Callable[[int], None], check: Callable[[], None]) -> Stored:
            return store_file(acting, source, progress, check)

        self._workers: ForkedWorkers[Source, Stored] = ForkedWorkers(task, max(1, min(options.store_workers, files)))

    def __enter__(self) -> _ChildStorer:
        return self

    def __exit__(self, exc_type: object, *_rest: object) -> None:
        self._workers.close(stop=exc_type is not None)

    def start(self, sources: list[Source]) -> list[Future[Stored]]:
        """Begin storing a batch."""
        return self._workers.submit(sources)

    def finish(self, futures: list[Future[Stored]]) -> list[Stored]:
        """The stored files of a batch, in order; raises the first failure (the exit stops the rest)."""
        self._workers.wait(futures, self._on_bytes)
        return results(futures)


def open_storer(
    acting: Acting, on_bytes: Callable[[int], None], files: int, options: IngestOptions = DEFAULT_OPTIONS
) -> _Storer | _ChildStorer:
    """Store workers for an ingest: call before any other thread starts (a progress bar's, say)."""
    in_child = options.store_in_child
    if in_child is None:
        in_child = isinstance(acting.archive.store, LocalBlobStore) and can_fork()
    if in_child:
        try:
            return _ChildStorer(acting, on_bytes, files, options)
        except OSError:
            pass  # no process or pipe to spare (a process limit, say): threads do the same work
    return _Storer(acting, on_bytes, files, options)


def batches(sources: list[Source], options: IngestOptions = DEFAULT_OPTIONS) -> Iterable[list[Source]]:
    """The sources in batches of at most ``options.batch_files`` files and ``options.batch_bytes`` bytes."""
    batch: list[Source] = []
    size = 0
    for source in sources:
        batch.append(source)
        size += source.path.stat().st_size
        if len(batch) >= options.batch_files or size >= options.batch_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch
