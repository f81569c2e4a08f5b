"""Streaming dual digests (SHA-256 and BLAKE3) computed in a single pass."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

import blake3

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Digests:
    """Both digests of one byte stream, lowercase hex, and its length."""

    sha256: str
    blake3: str
    size: int


class DualHasher:
    """Feeds every chunk to SHA-256 and BLAKE3 so a file is read exactly once."""

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._blake3 = blake3.blake3()
        self._size = 0

    def update(self, chunk: bytes) -> None:
        """Add the next chunk of the stream."""
        self._sha256.update(chunk)
        self._blake3.update(chunk)
        self._size += len(chunk)

    def digests(self) -> Digests:
        """The digests of everything fed so far."""
        return Digests(self._sha256.hexdigest(), self._blake3.hexdigest(), self._size)


def copy_and_hash(source: IO[bytes], *sinks: Callable[[bytes], object], chunk_size: int = CHUNK_SIZE) -> Digests:
    """Read ``source`` to its end once, in bounded chunks: hash each (SHA-256, BLAKE3, size) and hand it to every sink.

    The one hash-and-copy loop of custody: a sink is a file's or a store writer's ``write``, another hash's
    ``update`` (SHA-512 for BagIt), a progress count, or a check that stops the work between chunks.

    Raises:
        Whatever reading ``source`` or a sink raises (``OSError``, ``StoreError``, ...); nothing is caught here.
    """
    hasher = DualHasher()
    while chunk := source.read(chunk_size):
        hasher.update(chunk)
        for sink in sinks:
            sink(chunk)
    return hasher.digests()


def digest_stream(stream: IO[bytes]) -> Digests:
    """Hash a whole stream with both algorithms, in bounded memory (raises what reading it raises)."""
    return copy_and_hash(stream)


def sha256_hex(data: bytes) -> str:
    """SHA-256 of a byte string, lowercase hex."""
    return hashlib.sha256(data).hexdigest()
