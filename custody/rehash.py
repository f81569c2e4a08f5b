"""Re-hashing a local store's blobs in the background, started before the catalog is opened.

A full verification spends most of its time reading and hashing stored bytes, which releases
the GIL, and a good part of the rest importing the database layer and walking the log, which
does not. Starting the re-hash first lets the two overlap. This module imports only the
standard library and the hashers, so it can start before anything heavy is loaded.

Where the platform can fork and nothing else runs threads yet, the hashing runs in a forked
child process: hashing threads that share the interpreter with a busy main thread wait for the
GIL after every read and every digest update, which on two cores cost a full verification a
quarter of its time. Elsewhere it runs in threads of this process.

Only blobs present when it starts are pre-hashed; verification reads any other blob itself, and
also any blob whose digests never arrive (for instance because the child process was killed).
"""

from __future__ import annotations

import os
import signal
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager, suppress
from pathlib import Path

from .config import find_archive, read_config
from .errors import CustodyError, StoreError
from .forked import can_fork
from .hashing import CHUNK_SIZE, Digests, DualHasher

# In-process threads read in large chunks: each chunk costs one trip through the GIL, which the
# importing main thread holds. A child process has no such contention and keeps chunks in cache.
_THREAD_CHUNK = 8 * 1024 * 1024


class EarlyRehash(ABC):
    """Digests of every blob under a local store, computed in the background as they go."""

    in_child: bool = False
    pid: int | None = None  # of the child process, while one runs

    @abstractmethod
    def result(self, sha256_hex: str) -> Digests | None:
        """The blob's digests (waiting for them), or None if the verifier must read it itself.

        None means the blob was not in the store at the start, or its digests cannot arrive.
        Raises StoreError if the blob could not be read.
        """

    @abstractmethod
    def close(self) -> None:
        """Stop the background work; results not yet computed are dropped."""


class _Cancelled(Exception):
    pass


def _hash_file(path: Path, chunk_size: int, stop: threading.Event | None = None) -> Digests:
    hasher = DualHasher()
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(chunk_size):
            if stop is not None and stop.is_set():
                raise _Cancelled
            hasher.update(chunk)
    return hasher.digests()


def _read_error(sha256_hex: str, message: str) -> StoreError:
    return StoreError(f"cannot read blob {sha256_hex}: {message}")


class _InThreads(EarlyRehash):
    def __init__(self, root: Path, workers: int) -> None:
        self._stop = threading.Event()
        blobs = _largest_first(dict(_blobs(root)))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="custody-rehash")
        self._futures: dict[str, Future[Digests]] = {
            digest: self._pool.submit(_hash_file, path, _THREAD_CHUNK, self._stop) for digest, path in blobs
        }

    def result(self, sha256_hex: str) -> Digests | None:
        future = self._futures.get(sha256_hex)
        if future is None:
            return None
        try:
            return future.result()
        except OSError as exc:
            raise _read_error(sha256_hex, str(exc.strerror)) from None

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


# What the child writes, one line each: "B <digest>" per blob found, then "." once listed (or
# "X" if the store could not be listed), then "R <digest> <sha256> <blake3> <size>" or
# "E <digest> <message>" per blob as it finishes.


class _InChild(EarlyRehash):
    in_child = True

    def __init__(self, root: Path, workers: int) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            code = 1
            try:
                os.close(read_end)
                _child_main(root, workers, write_end)
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        self.pid: int | None = pid
        self._fd = read_end
        self._lock = threading.Lock()
        self._pending = b""
        self._listed: set[str] = set()
        self._listing_done = False
        self._eof = False
        self._results: dict[str, Digests | StoreError] = {}

    def result(self, sha256_hex: str) -> Digests | None:
        with self._lock:
            while True:
                found = self._results.get(sha256_hex)
                if found is not None:
                    break
                if self._eof or (self._listing_done and sha256_hex not in self._listed):
                    return None
                self._read_more()
        if isinstance(found, StoreError):
            raise found
        return found

    def _read_more(self) -> None:
        data = os.read(self._fd, 1 << 16)
        if not data:
            self._eof = True
            return
        *lines, self._pending = (self._pending + data).split(b"\n")
        for line in lines:
            self._take(line.decode("utf-8", "replace"))

    def _take(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "B":
            self._listed.add(rest)
        elif kind in (".", "X"):
            self._listing_done = True
            if kind == "X":
                self._listed.clear()
        elif kind == "R":
            digest, sha256, blake3, size = rest.split(" ")
            self._results[digest] = Digests(sha256, blake3, int(size))
        elif kind == "E":
            digest, _, message = rest.partition(" ")
            self._results[digest] = _read_error(digest, message)

    def close(self) -> None:
        if self.pid is None:
            return
        with suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self._fd)
        self.pid = None


def _child_main(root: Path, workers: int, fd: int) -> None:  # pragma: no cover - child process
    # Ctrl-C reaches the whole process group: the child just ends, and the parent reaps it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    # The parent's own work (imports, the log walk) is what a verification waits for: the hashing
    # yields to it and takes the rest of the CPU.
    os.nice(10)
    try:
        blobs = _largest_first(dict(_blobs(root)))
    except OSError:
        _write_all(fd, b"X\n")
        return
    _write_all(fd, b"".join(b"B %s\n" % digest.encode() for digest, _ in blobs) + b".\n")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_hash_file, path, CHUNK_SIZE): digest for digest, path in blobs}
        for future in as_completed(futures):
            digest = futures[future]
            try:
                got = future.result()
            except OSError as exc:
                line = f"E {digest} {exc.strerror}\n"
            else:
                line = f"R {digest} {got.sha256} {got.blake3} {got.size}\n"
            # A parent that is gone closes the pipe: the write fails and the child ends.
            _write_all(fd, line.encode("utf-8"))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _largest_first(blobs: dict[str, Path]) -> list[tuple[str, Path]]:
    # The last blobs to finish are then small ones, so the workers end together.
    return sorted(blobs.items(), key=lambda kv: _size(kv[1]), reverse=True)


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
    if not (root / "sha256").is_dir():
        return None
    workers = max(1, min(4, os.cpu_count() or 1))
    if in_child if in_child is not None else can_fork():
        return _InChild(root, workers)
    try:
        return _InThreads(root, workers)
    except OSError:
        return None


@contextmanager
def early_rehash(archive_path: str | None, enabled: bool = True) -> Iterator[EarlyRehash | None]:
    """``start_rehash`` for the length of a ``with`` block; the background work stops when it ends."""
    rehash = start_rehash(archive_path) if enabled else None
    try:
        yield rehash
    finally:
        if rehash is not None:
            rehash.close()
