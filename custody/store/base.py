"""The interface every blob store implements.

Blobs are addressed by the lowercase hex SHA-256 of their bytes. A blob, once
committed, is never rewritten or removed by any code path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class LockInfo:
    """Immutability state of one stored blob as the store reports it."""

    locked: bool
    mode: str | None = None  # e.g. "COMPLIANCE" for S3 Object Lock, "read-only" locally
    retain_until: str | None = None  # ISO 8601 UTC, when the store enforces retention
    legal_hold: bool = False


class BlobWriter(Protocol):
    """A blob being written: bytes go in with ``write``, then ``commit`` or ``abort``."""

    @property
    def pending_path(self) -> Path:
        """A private local file holding the bytes written so far (read it only before commit)."""

    def write(self, chunk: bytes) -> None:
        """Append bytes to the pending blob."""

    def commit(self, sha256_hex: str, blake3_hex: str | None = None) -> bool:
        """Make the blob durable under its digest; return False if it already existed.

        ``blake3_hex``, computed with the SHA-256 in the same pass over the same bytes, lets a
        store that re-reads what it was given check it by the much cheaper digest.
        """

    def abort(self) -> None:
        """Discard everything written so far; nothing stays behind."""


class BlobStore(Protocol):
    """Where evidence bytes live."""

    kind: str

    def open_writer(self, durable: bool = True) -> BlobWriter:
        """Start a new pending blob; with ``durable=False`` it is durable only after :meth:`sync`."""

    def sync(self) -> None:
        """Make every blob committed by non-durable writers durable."""

    def exists(self, sha256_hex: str) -> bool:
        """True if a committed blob with this digest is present."""

    def open_read(self, sha256_hex: str) -> BinaryIO:
        """Open a committed blob for streaming reads; raises StoreError if missing."""

    def lock_info(self, sha256_hex: str) -> LockInfo:
        """Report whether the blob is still protected against change and deletion."""

    def iter_digests(self) -> Iterator[str]:
        """Every committed digest in the store (for audits)."""

    def describe(self) -> dict[str, object]:
        """Kind, location and lock settings, for ``status``."""
