"""RFC 9162 section 2.1 Merkle tree hashing and proofs over stored perfect subtrees.

Node (level, index) is the hash of the perfect subtree over leaves
[index * 2**level, (index + 1) * 2**level). Such nodes are written once, when
their last leaf arrives; any RFC 9162 subtree decomposes into at most log2(n) of
them, so roots and proofs read O(log n) stored hashes in one batch.

Throughout, ``leaf`` means a leaf *hash* (see :func:`leaf_hash`), not the entry data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Protocol

from ..errors import ProofError

EMPTY_ROOT = hashlib.sha256(b"").digest()

_Range = tuple[int, int]  # leaves [start, end)


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class NodeReader(Protocol):
    """Batch access to stored perfect-subtree hashes; one call is one database query."""

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        """The stored hash of every requested (level, index); raise if one is missing."""
        ...


def _split(n: int) -> int:
    """RFC 9162's k: the largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _perfect_cover(start: int, end: int) -> list[tuple[int, int]]:
    """Stored nodes covering the RFC 9162 subtree [start, end), left to right.

    RFC subtrees start at a multiple of a power of two at least as large as their size,
    so the cover follows the binary digits of the size and every piece is aligned.
    """
    keys: list[tuple[int, int]] = []
    pos, size = start, end - start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            keys.append((level, pos >> level))
            pos += 1 << level
    return keys


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Root of adjacent perfect subtrees of decreasing size, the right spine folded first."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _hashes_of(ranges: Sequence[_Range], reader: NodeReader) -> list[bytes]:
    """Hashes of RFC subtrees, read from the store in a single batch."""
    covers = [_perfect_cover(s, e) for s, e in ranges]
    nodes = reader.get_nodes([k for cover in covers for k in cover]) if covers else {}
    return [_fold([nodes[k] for k in cover]) for cover in covers]


def root(size: int, reader: NodeReader) -> bytes:
    """RFC 9162 Merkle tree hash of the first ``size`` leaves."""
    if size < 0:
        raise ProofError(f"tree size {size} is negative; a tree size counts leaves from 0")
    if size == 0:
        return EMPTY_ROOT
    return _hashes_of([(0, size)], reader)[0]


def new_nodes(index: int, leaf: bytes, reader: NodeReader) -> list[tuple[int, int, bytes]]:
    """Nodes (level, index, hash) completed by appending leaf hash number ``index``, the leaf first."""
    if index < 0:
        raise ProofError(f"leaf index {index} is negative; leaves are numbered from 0")
    # Each trailing 1 bit of the index closes a perfect subtree with its stored left sibling.
    siblings: list[tuple[int, int]] = []
    level = 0
    while index >> level & 1:
        siblings.append((level, (index >> level) - 1))
        level += 1
    stored = reader.get_nodes(siblings) if siblings else {}
    result = [(0, index, leaf)]
    acc = leaf
    for lv, sibling in siblings:
        acc = node_hash(stored[(lv, sibling)], acc)
        result.append((lv + 1, sibling >> 1, acc))
    return result


def _path_ranges(index: int, size: int) -> list[_Range]:
    """Subtrees whose hashes form PATH(index, D[0:size]), leaf-side first."""
    ranges: list[_Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """RFC 9162 2.1.3.1 audit path for leaf ``index`` in the tree of ``size`` leaves."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}; ask for an index below the size")
    return _hashes_of(_path_ranges(index, size), reader)


def _subproof_ranges(m: int, start: int, end: int, whole: bool) -> list[_Range]:
    """Subtrees whose hashes form SUBPROOF(m, D[start:end], whole), in proof order."""
    n = end - start
    if m == n:
        return [] if whole else [(start, end)]
    k = _split(n)
    if m <= k:
        return [*_subproof_ranges(m, start, start + k, whole), (start + k, end)]
    return [*_subproof_ranges(m - k, start + k, end, False), (start, start + k)]


def consistency_proof(old_size: int, new_size: int, reader: NodeReader) -> list[bytes]:
    """RFC 9162 2.1.4.1 proof that the ``new_size`` tree extends the ``old_size`` one."""
    if not 0 < old_size <= new_size:
        raise ProofError(
            f"no consistency proof exists from tree size {old_size} to {new_size}; need 0 < old size <= new size"
        )
    return _hashes_of(_subproof_ranges(old_size, 0, new_size, True), reader)


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if value < 0:
            raise ProofError(f"{name.replace('_', ' ')} {value} is negative; sizes and indexes count from 0")


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2: does ``proof`` put leaf hash ``leaf`` at ``index`` of the ``size`` tree with ``root``?"""
    _check_sizes(leaf_index=index, tree_size=size)
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2: does ``proof`` show the ``new_size`` tree extends the ``old_size`` one?"""
    _check_sizes(old_size=old_size, new_size=new_size)
    if old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        # The empty tree is a prefix of every tree; RFC 9162 defines no proof for it. Its root is
        # still the empty tree's: a size-0 note with another root is not a checkpoint of any log.
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def frontier_keys(size: int) -> list[tuple[int, int]]:
    """The stored perfect subtrees covering leaves [0, size), largest first (RFC 9162 decomposition)."""
    found: list[tuple[int, int]] = []
    pos = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            found.append((level, pos >> level))
            pos += 1 << level
    return found


class RootBuilder:
    """Streaming RFC 9162 root over appended leaf hashes in O(log n) memory."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (level, hash) of completed perfect subtrees
        self.size = 0

    @classmethod
    def resume(cls, size: int, frontier: Sequence[tuple[int, bytes]]) -> RootBuilder:
        """A builder over ``size`` leaves already summed by ``frontier``, the (level, hash) of each subtree
        :func:`frontier_keys` names (an RFC 9162 root resumed from a trusted tree)."""
        builder = cls()
        builder._stack = list(frontier)
        builder.size = size
        return builder

    def add(self, leaf: bytes) -> None:
        """Append the next leaf hash."""
        level, acc = 0, leaf
        while self._stack and self._stack[-1][0] == level:
            acc = node_hash(self._stack.pop()[1], acc)
            level += 1
        self._stack.append((level, acc))
        self.size += 1

    def root(self) -> bytes:
        """Root of all leaves added so far."""
        if not self._stack:
            return EMPTY_ROOT
        return _fold([h for _, h in self._stack])


class MemoryNodes:
    """An in-memory node store: a NodeReader plus append, for tests and offline verifiers."""

    def __init__(self) -> None:
        self._nodes: dict[tuple[int, int], bytes] = {}
        self.size = 0

    def append(self, leaf: bytes) -> None:
        """Append the next leaf hash, storing every subtree it completes."""
        for level, idx, digest in new_nodes(self.size, leaf, self):
            self._nodes[(level, idx)] = digest
        self.size += 1

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        """The stored hash of every requested (level, index)."""
        missing = [k for k in keys if k not in self._nodes]
        if missing:
            raise ProofError(
                f"Merkle node {missing[0]} is not stored (the tree has {self.size} leaves); ask for a smaller size"
            )
        return {k: self._nodes[k] for k in keys}
