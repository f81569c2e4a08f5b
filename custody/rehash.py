"""Re-hashing a local store's blobs in background threads, started before the catalog is opened.

A full verification spends most of its time reading and hashing stored bytes, which releases
the GIL, and a good part of the rest importing the database layer and walking the log, which
does not. Starting the re-hash first lets the two overlap. This module imports only the
standard library and the hashers, so it can start before anything heavy is loaded.

Only blobs present when it starts are pre-hashed; verification reads any other blob itself.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from .config import find_archive, read_config
from .errors import CustodyError, StoreError
from .hashing import Digests, DualHasher

# Large reads: each chunk costs one trip through the GIL, which the importing thread holds.
_CHUNK = 8 * 1024 * 1024


class _Cancelled(Exception):
    pass


class EarlyRehash:
    """Digests of every blob under a local store, computed by worker threads as they go."""

    def __init__(self, blobs: dict[str, Path], workers: int) -> None:
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="custody-rehash")
        # Largest first, so the last blobs to finish are small ones and the workers end together.
        order = sorted(blobs.items(), key=lambda kv: _size(kv[1]), reverse=True)
        self._futures: dict[str, Future[Digests]] = {
            digest: self._pool.submit(self._hash, path) for digest, path in order
        }

    def _hash(self, path: Path) -> Digests:
        hasher = DualHasher()
        with open(path, "rb", buffering=0) as fh:
            while chunk := fh.read(_CHUNK):
                if self._stop.is_set():
                    raise _Cancelled
                hasher.update(chunk)
        return hasher.digests()

    def result(self, sha256_hex: str) -> Digests | None:
        """The blob's digests (waiting for them), or None if it was not in the store at the start.

        Raises StoreError if the blob could not be read.
        """
        future = self._futures.get(sha256_hex)
        if future is None:
            return None
        try:
            return future.result()
        except OSError as exc:
            raise StoreError(f"cannot read blob {sha256_hex}: {exc.strerror}") from None

    def close(self) -> None:
        """Stop the workers at their next chunk; results not yet computed are dropped."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _blobs(store_root: Path) -> Iterator[tuple[str, Path]]:
    # Layout of LocalBlobStore: sha256/ab/cd/<64 hex digits>.
    base = store_root / "sha256"
    for first in os.scandir(base):
        if not first.is_dir(follow_symlinks=False):
            continue
        for second in os.scandir(first.path):
            if not second.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(second.path):
                name = entry.name
                # Only a file where the store itself would read it stands for that digest: a copy
                # elsewhere must never vouch for the blob verification is asked about.
                if (
                    len(name) == 64
                    and (name[:2], name[2:4]) == (first.name, second.name)
                    and entry.is_file(follow_symlinks=False)
                ):
                    yield name, Path(entry.path)


def start_rehash(archive_path: str | None) -> EarlyRehash | None:
    """Start re-hashing the blobs of the archive's local store; None if there is nothing to start.

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
        blobs = dict(_blobs(root))
    except OSError:
        return None
    return EarlyRehash(blobs, max(1, min(4, os.cpu_count() or 1)))


@contextmanager
def early_rehash(archive_path: str | None, enabled: bool = True) -> Iterator[EarlyRehash | None]:
    """``start_rehash`` for the length of a ``with`` block; the workers stop when it ends."""
    rehash = start_rehash(archive_path) if enabled else None
    try:
        yield rehash
    finally:
        if rehash is not None:
            rehash.close()
