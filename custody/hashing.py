"""Streaming dual digests (SHA-256 and BLAKE3) computed in a single pass."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

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


def iter_chunks(stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterable[bytes]:
    """Yield a stream's bytes in bounded chunks."""
    while chunk := stream.read(chunk_size):
        yield chunk


def digest_stream(stream: BinaryIO) -> Digests:
    """Hash a whole stream with both algorithms, in bounded memory."""
    hasher = DualHasher()
    for chunk in iter_chunks(stream):
        hasher.update(chunk)
    return hasher.digests()


def sha256_hex(data: bytes) -> str:
    """SHA-256 of a byte string, lowercase hex."""
    return hashlib.sha256(data).hexdigest()
