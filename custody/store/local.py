"""Local content-addressed store: one read-only file per blob, named by its SHA-256."""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import StoreError
from ..fileutil import fsync_dir
from . import layout
from .base import LockInfo

_READ_ONLY = stat.S_IRUSR


def _syncfs(path: Path) -> None:
    """Flush the file system holding ``path`` in one call (Linux syncfs), else everything."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()


class _LocalWriter:
    """Writes to a private temp file; only ``commit`` makes a blob appear under its digest."""

    def __init__(self, store: LocalBlobStore, durable: bool) -> None:
        self._store = store
        self._durable = durable
        self.tmp_path = store.tmp_dir / layout.temp_name()
        fd = os.open(self.tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._fh: BinaryIO | None = os.fdopen(fd, "wb")

    @property
    def pending_path(self) -> Path:
        if self._fh is not None:
            self._fh.flush()
        return self.tmp_path

    def write(self, chunk: bytes) -> None:
        if self._fh is None:
            raise StoreError("blob writer already closed")
        self._fh.write(chunk)

    def commit(self, sha256_hex: str, blake3_hex: str | None = None) -> bool:
        if self._fh is None:
            raise StoreError("blob writer already closed")
        try:
            self._fh.flush()
            if self._durable:
                os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            final = self._store.path_for(sha256_hex)
            if final.exists():
                self.tmp_path.unlink()
                return False
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(self.tmp_path, self._store.blob_mode)
            # link() refuses to replace, so two racing writers never overwrite a blob.
            try:
                os.link(self.tmp_path, final)
            except FileExistsError:
                self.tmp_path.unlink()
                return False
            self.tmp_path.unlink()
            if self._durable:
                fsync_dir(final.parent)
            return True
        except OSError as exc:
            self.abort()
            raise StoreError(f"cannot store blob {sha256_hex} in {self._store.root}: {exc.strerror}") from None

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self.tmp_path.unlink(missing_ok=True)


class LocalBlobStore:
    """Blobs under ``ROOT/sha256/ab/cd/<digest>``, never rewritten.

    Blobs are mode 0400 in a 0700 store folder; with ``group_read`` (``[store] group_read = true`` in
    custody.toml, for a team sharing one Unix group) 0440 in 0750. Never world-readable.
    """

    kind = "local"

    def __init__(self, root: Path, group_read: bool = False) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self.blob_mode = _READ_ONLY | (stat.S_IRGRP if group_read else 0)
        try:
            (root / "sha256").mkdir(parents=True, exist_ok=True)
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(root, 0o750 if group_read else 0o700)
        except OSError as exc:
            raise StoreError(f"cannot create the store at {root}: {exc.strerror}") from None
        # A process killed mid-ingest leaves its temp file behind; it was never a blob.
        layout.remove_stale_temps(self.tmp_dir)

    def path_for(self, sha256_hex: str) -> Path:
        return self.root / layout.blob_key(sha256_hex)

    def open_writer(self, durable: bool = True) -> _LocalWriter:
        """A writer; ``durable=False`` leaves flushing to a later :meth:`sync` of the whole batch."""
        return _LocalWriter(self, durable)

    def sync(self) -> None:
        """Make every blob committed so far durable (one file-system flush for a batch)."""
        _syncfs(self.root)

    def exists(self, sha256_hex: str) -> bool:
        return self.path_for(sha256_hex).is_file()

    def open_read(self, sha256_hex: str) -> BinaryIO:
        # Never through a symbolic link (of the blob or of its folders), never anything but a regular file: a good
        # copy elsewhere must not stand in for the blob, nor a FIFO stall the reader (custody.store.layout).
        return os.fdopen(layout.open_blob(self.root, sha256_hex), "rb")

    def lock_info(self, sha256_hex: str) -> LockInfo:
        mode = self.path_for(sha256_hex).lstat().st_mode
        if stat.S_ISLNK(mode):
            return LockInfo(locked=False, mode="a symbolic link, not a read-only file")
        writable = bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        return LockInfo(locked=not writable, mode="read-only" if not writable else "writable")

    def iter_digests(self) -> Iterator[str]:
        for path in (self.root / layout.FOLDER).glob("*/*/*"):
            if layout.is_digest(path.name):
                yield path.name

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "path": str(self.root), "lock": f"files read-only (mode {self.blob_mode:04o})"}
