"""Re-hashing a local store's blobs in the background, started before the catalog is opened.

A full verification spends most of its time reading and hashing stored bytes, which releases
the GIL, and a good part of the rest importing the database layer and walking the log, which
does not. Starting the re-hash first lets the two overlap. This module imports only the
standard library and the hashers, so it can start before anything heavy is loaded.

Where a child can be forked safely (custody.forked), the hashing runs in a forked, lower-priority
child process: hashing threads that share the interpreter with a busy main thread wait for the
GIL after every read and every digest update, which on two cores made the re-hash take a third
to a half longer. Elsewhere it runs in threads of this process.

Only blobs present when it starts are pre-hashed; verification reads any other blob itself, and
also any blob whose digests never arrive (for instance because the child process was killed).
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from .config import find_archive, read_config
from .errors import CustodyError, StoreError, WorkerLostError
from .forked import ForkedWorkers, Stopped, can_fork
from .hashing import CHUNK_SIZE, Digests, copy_and_hash
from .store import layout

# In-process threads read in large chunks: each chunk costs one trip through the GIL, which the
# importing main thread holds. A child process has no such contention and keeps chunks in cache.
_THREAD_CHUNK = 8 * 1024 * 1024


class EarlyRehash(ABC):
    """Digests of every blob under a local store, computed in the background as they go."""

    in_child: bool = False
    pid: int | None = None  # of the child process, while one runs
    root: Path | None = None  # the store folder whose blobs it hashes (set by start_rehash)

    def __init__(self) -> None:
        # Each blob's digests arrive with its group's (see _groups): the group's future and the blob's place in it.
        self._futures: dict[str, tuple[Future[list[Digests | str]], int]] = {}

    def result(self, sha256_hex: str) -> Digests | None:
        """The blob's digests (waiting for them), or None if the verifier must read it itself.

        None means the blob was not in the store at the start, or its digests cannot arrive.
        Raises StoreError if the blob could not be read.
        """
        found = self._futures.get(sha256_hex)
        if found is None:
            return None
        future, index = found
        try:
            got = future.result()[index]
        except WorkerLostError:
            return None
        except StoreError:
            raise
        except Exception:  # a fault of the re-hash (a bug, no memory), not of the blob: the verifier reads it
            return None
        if isinstance(got, str):
            raise StoreError(got)
        return got

    def _expect(self, groups: list[list[tuple[str, Path]]], futures: list[Future[list[Digests | str]]]) -> None:
        self._futures = {
            digest: (future, index)
            for group, future in zip(groups, futures, strict=True)
            for index, (digest, _path) in enumerate(group)
        }

    @abstractmethod
    def close(self) -> None:
        """Stop the background work; results not yet computed are dropped."""


def _hash_blob(
    blob: tuple[str, Path], _progress: Callable[[int], None], check: Callable[[], None], chunk_size: int = CHUNK_SIZE
) -> Digests:
    digest, path = blob
    try:
        # As the store reads a blob (custody.store.layout.open_blob): not through a link put there since the
        # listing, and not a FIFO (which would stall this worker, and the verifier waiting for it, for good).
        fd = layout.open_regular(path)
        if fd is None:
            raise StoreError(f"cannot read blob {digest}: not a regular file")
        with open(fd, "rb", buffering=0) as fh:
            return copy_and_hash(fh, lambda _chunk: check(), chunk_size=chunk_size)
    except OSError as exc:
        raise StoreError(f"cannot read blob {digest}: {exc.strerror}") from None


def _hash_group(
    group: list[tuple[str, Path]],
    progress: Callable[[int], None],
    check: Callable[[], None],
    chunk_size: int = CHUNK_SIZE,
) -> list[Digests | str]:
    """Each blob's digests, or why it could not be read (the StoreError's message): one blob's failure is its own."""
    hashed: list[Digests | str] = []
    for blob in group:
        try:
            hashed.append(_hash_blob(blob, progress, check, chunk_size))
        except StoreError as exc:
            hashed.append(str(exc))
    return hashed


class _InThreads(EarlyRehash):
    def __init__(self, groups: list[list[tuple[str, Path]]], workers: int) -> None:
        super().__init__()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="custody-rehash")
        futures = [self._pool.submit(_hash_group, group, _no_progress, self._check, _THREAD_CHUNK) for group in groups]
        self._expect(groups, futures)

    def _check(self) -> None:
        if self._stop.is_set():
            raise Stopped

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _no_progress(_n: int) -> None:
    pass


class _InChild(EarlyRehash):
    in_child = True

    def __init__(self, groups: list[list[tuple[str, Path]]], workers: int) -> None:
        super().__init__()
        # The parent's own work (imports, the log walk) is what a verification waits for: the
        # hashing yields to it and takes the rest of the CPU.
        self._workers: ForkedWorkers[list[tuple[str, Path]], list[Digests | str]] = ForkedWorkers(
            _hash_group, workers, nice=10
        )
        self.pid = self._workers.pid
        # A lost child fails its futures with WorkerLostError: the verifier reads those blobs itself.
        self._expect(groups, self._workers.submit(groups))

    def close(self) -> None:
        self._workers.close(stop=True)
        self.pid = None


_GROUP_BYTES = 4 * 1024 * 1024
"""Blobs smaller than this are hashed several to a task: a task (and, from a child, a message) per small blob
cost more than hashing it (a store holds a small withheld-values blob beside each item)."""


def _groups(blobs: list[tuple[str, Path, int]]) -> list[list[tuple[str, Path]]]:
    """The blobs largest first (the last to finish are then small ones, so the workers end together), consecutive
    ones packed into groups of up to ``_GROUP_BYTES`` (a larger blob is a group of its own)."""
    groups: list[list[tuple[str, Path]]] = []
    size = 0
    for digest, path, length in sorted(blobs, key=lambda b: b[2], reverse=True):
        if not groups or size + length > _GROUP_BYTES:
            groups.append([])
            size = 0
        groups[-1].append((digest, path))
        size += length
    return groups


def _blobs(store_root: Path) -> Iterator[tuple[str, Path, int]]:
    # Only the store's own layout (custody.store.layout): sha256/ab/cd/<64 hex digits>.
    for key, entry in layout.scan(store_root):
        name = entry.name
        # Only a file where the store itself would read it stands for that digest: a copy
        # elsewhere must never vouch for the blob verification is asked about.
        if layout.is_digest(name) and key == layout.blob_key(name) and entry.is_file(follow_symlinks=False):
            yield name, Path(entry.path), entry.stat(follow_symlinks=False).st_size


def start_rehash(archive_path: str | None, in_child: bool | None = None) -> EarlyRehash | None:
    """Start re-hashing the blobs of the archive's local store; None if there is nothing to start.

    ``in_child`` chooses a forked child process or threads; by default a child where possible.
    Never raises for a missing or unusual archive: opening it later reports that properly.
    """
    try:
        cfg = read_config(find_archive(archive_path))
    except CustodyError:
        return None
    if not cfg.store_url.startswith("file:"):
        return None
    path = Path(cfg.store_url[len("file:") :])
    root = path if path.is_absolute() else cfg.root / path
    try:
        groups = _groups(list(_blobs(root)))
    except OSError:
        return None
    if not groups:
        return None
    workers = max(1, min(4, os.cpu_count() or 1))
    rehash = _start(groups, workers, in_child if in_child is not None else can_fork())
    rehash.root = root
    return rehash


def _start(groups: list[list[tuple[str, Path]]], workers: int, in_child: bool) -> EarlyRehash:
    if in_child:
        try:
            return _InChild(groups, workers)
        except OSError:
            pass  # no process or pipe to spare: threads do the same work
    return _InThreads(groups, workers)


@contextmanager
def early_rehash(archive_path: str | None, enabled: bool = True) -> Iterator[EarlyRehash | None]:
    """``start_rehash`` for the length of a ``with`` block; the background work stops when it ends."""
    rehash = start_rehash(archive_path) if enabled else None
    try:
        yield rehash
    finally:
        if rehash is not None:
            rehash.close()
