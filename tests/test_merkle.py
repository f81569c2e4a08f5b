"""The incremental RFC 9162 Merkle tree agrees with the RFC's own definitions and published vectors."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from custody.errors import ProofError
from custody.log import merkle

# --- A naive RFC 9162 section 2.1 implementation, written from the RFC's definitions ----------------
# It works on the entry data and recomputes everything recursively; the code under test never does.


def _k(n: int) -> int:
    """The largest power of two smaller than n (RFC 9162 2.1.1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(d: Sequence[bytes]) -> bytes:
    if len(d) == 0:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + naive_mth(d[:k]) + naive_mth(d[k:])).digest()


def naive_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*naive_path(m, d[:k]), naive_mth(d[k:])]
    return [*naive_path(m - k, d[k:]), naive_mth(d[:k])]


def naive_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [naive_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*naive_subproof(m, d[:k], b), naive_mth(d[k:])]
    return [*naive_subproof(m - k, d[k:], False), naive_mth(d[:k])]


def naive_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    return naive_subproof(m, d, True)


# --- Helpers --------------------------------------------------------------------------------------


def entries(n: int, salt: bytes = b"") -> list[bytes]:
    return [salt + i.to_bytes(4, "big") for i in range(n)]


def build(data: Sequence[bytes]) -> merkle.MemoryNodes:
    nodes = merkle.MemoryNodes()
    for d in data:
        nodes.append(merkle.leaf_hash(d))
    return nodes


def flipped(proof: Sequence[bytes], i: int) -> list[bytes]:
    out = list(proof)
    out[i] = bytes([out[i][0] ^ 0x08]) + out[i][1:]
    return out


class CountingReader:
    """A real NodeReader over a MemoryNodes that records each batch it is asked for."""

    def __init__(self, inner: merkle.MemoryNodes) -> None:
        self.inner = inner
        self.batches: list[list[tuple[int, int]]] = []

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        self.batches.append(list(keys))
        return self.inner.get_nodes(keys)


# --- Known-answer vectors -------------------------------------------------------------------------
# Certificate Transparency's RFC 6962 test data, as published in github.com/transparency-dev/merkle,
# proof/verify_test.go (leaves, roots, inclusionProofs, consistencyProofs; that file numbers leaves
# from 1, here they are 0-based).

CT_LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                         "606162636465666768696a6b6c6d6e6f"]]  # fmt: skip
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
CT_INCLUSION = [  # (leaf index, tree size, audit path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CT_CONSISTENCY = [  # (old size, new size, proof)
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip


def ct_root(size: int) -> bytes:
    return bytes.fromhex(CT_ROOTS[size - 1])


def test_empty_root_is_sha256_of_nothing() -> None:
    assert merkle.EMPTY_ROOT.hex() == CT_EMPTY_ROOT
    assert merkle.root(0, merkle.MemoryNodes()) == merkle.EMPTY_ROOT
    assert merkle.RootBuilder().root() == merkle.EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_certificate_transparency_vectors(size: int) -> None:
    assert merkle.root(size, build(CT_LEAVES)) == ct_root(size)


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_inclusion_proofs_match_certificate_transparency_vectors(index: int, size: int, path: list[str]) -> None:
    proof = merkle.inclusion_proof(index, size, build(CT_LEAVES))
    assert [h.hex() for h in proof] == path
    assert merkle.verify_inclusion(merkle.leaf_hash(CT_LEAVES[index]), index, size, proof, ct_root(size))


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_consistency_proofs_match_certificate_transparency_vectors(old: int, new: int, path: list[str]) -> None:
    proof = merkle.consistency_proof(old, new, build(CT_LEAVES))
    assert [h.hex() for h in proof] == path
    assert merkle.verify_consistency(old, new, ct_root(old), ct_root(new), proof)


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_corrupted_known_inclusion_proofs_fail(index: int, size: int, path: list[str]) -> None:
    proof = [bytes.fromhex(h) for h in path]
    leaf, root = merkle.leaf_hash(CT_LEAVES[index]), ct_root(size)
    some_hash = bytes(range(32))
    attempts: list[tuple[bytes, int, int, list[bytes], bytes]] = [
        (leaf, index + 1, size, proof, root),
        (leaf, index ^ 2, size, proof, root),
        (leaf, index, size * 2, proof, root),
        (leaf, index, size // 2, proof, root),
        (merkle.leaf_hash(b"wrong leaf"), index, size, proof, root),
        (leaf, index, size, proof, merkle.EMPTY_ROOT),
        (leaf, index, size, [*proof, b""], root),
        (leaf, index, size, [*proof, root], root),
        (leaf, index, size, [root, *proof], root),
        (leaf, index, size, proof[:-1], root),
        (leaf, index, size, [proof[0], some_hash, *proof[1:]], root),
    ]
    if index > 0:
        attempts.append((leaf, index - 1, size, proof, root))
    for attempt in attempts:
        assert not merkle.verify_inclusion(*attempt), attempt[1:3]


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_corrupted_known_consistency_proofs_fail(old: int, new: int, path: list[str]) -> None:
    proof = [bytes.fromhex(h) for h in path]
    r1, r2 = ct_root(old), ct_root(new)
    attempts: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for attempt in attempts:
        assert not merkle.verify_consistency(*attempt), attempt[:2]


# --- The stored tree against the naive definitions -----------------------------------------------


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 2000), salt=st.binary(max_size=8))
@example(size=2000, salt=b"")
@example(size=1024, salt=b"")
@example(size=1025, salt=b"")
def test_root_equals_rfc_definition(size: int, salt: bytes) -> None:
    data = entries(size, salt)
    assert merkle.root(size, build(data)) == naive_mth(data)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 2000), salt=st.binary(max_size=8), picks=st.lists(st.floats(0, 1, exclude_max=True)))
@example(size=2000, salt=b"", picks=[0.5, 0.999, 0.25])
@example(size=1537, salt=b"", picks=[0.7, 0.1])
def test_inclusion_proof_equals_rfc_path_and_verifies(size: int, salt: bytes, picks: list[float]) -> None:
    data = entries(size, salt)
    nodes, root = build(data), naive_mth(data)
    for index in {0, size - 1, *(int(p * size) for p in picks[:5])}:
        proof = merkle.inclusion_proof(index, size, nodes)
        assert proof == naive_path(index, data)
        assert merkle.verify_inclusion(merkle.leaf_hash(data[index]), index, size, proof, root)


@pytest.mark.parametrize("size", range(1, 34))
def test_every_inclusion_proof_of_small_trees_equals_rfc_path(size: int) -> None:
    data = entries(size)
    nodes, root = build(data), naive_mth(data)
    for index in range(size):
        proof = merkle.inclusion_proof(index, size, nodes)
        assert proof == naive_path(index, data)
        assert merkle.verify_inclusion(merkle.leaf_hash(data[index]), index, size, proof, root)


def test_every_consistency_proof_up_to_64_leaves_equals_rfc_proof() -> None:
    data = entries(64)
    nodes = build(data)
    roots = [naive_mth(data[:n]) for n in range(65)]
    for new in range(1, 65):
        for old in range(1, new + 1):
            proof = merkle.consistency_proof(old, new, nodes)
            assert proof == naive_proof(old, data[:new]), (old, new)
            assert merkle.verify_consistency(old, new, roots[old], roots[new], proof), (old, new)


def test_every_flipped_hash_in_an_inclusion_proof_fails() -> None:
    data = entries(45)
    nodes = build(data)
    for size in (1, 2, 7, 16, 45):
        root = merkle.root(size, nodes)
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, nodes)
            leaf = merkle.leaf_hash(data[index])
            for i in range(len(proof)):
                assert not merkle.verify_inclusion(leaf, index, size, flipped(proof, i), root)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 300), a=st.floats(0, 1, exclude_max=True), b=st.floats(0, 1, exclude_max=True))
def test_inclusion_proof_claimed_for_another_index_fails(size: int, a: float, b: float) -> None:
    index, other = int(a * size), int(b * size)
    data = entries(size)
    nodes = build(data)
    proof = merkle.inclusion_proof(index, size, nodes)
    leaf, root = merkle.leaf_hash(data[index]), merkle.root(size, nodes)
    assert merkle.verify_inclusion(leaf, other, size, proof, root) == (other == index)
    assert not merkle.verify_inclusion(leaf, size + index, size, proof, root)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 300), other=st.integers(1, 300), a=st.floats(0, 1, exclude_max=True))
def test_inclusion_proof_claimed_for_another_tree_size_fails(size: int, other: int, a: float) -> None:
    index = int(a * min(size, other))
    data = entries(max(size, other))
    nodes = build(data)
    proof = merkle.inclusion_proof(index, size, nodes)
    verified = merkle.verify_inclusion(merkle.leaf_hash(data[index]), index, other, proof, merkle.root(other, nodes))
    assert verified == (other == size)


def test_every_flipped_hash_in_a_consistency_proof_fails() -> None:
    data = entries(33)
    nodes = build(data)
    for new in range(2, 34):
        for old in range(1, new):
            proof = merkle.consistency_proof(old, new, nodes)
            r1, r2 = merkle.root(old, nodes), merkle.root(new, nodes)
            for i in range(len(proof)):
                assert not merkle.verify_consistency(old, new, r1, r2, flipped(proof, i)), (old, new, i)


def test_consistency_proof_claimed_for_other_sizes_fails() -> None:
    data = entries(24)
    nodes = build(data)
    roots = [merkle.root(n, nodes) for n in range(25)]
    for new in range(2, 25):
        for old in range(1, new):
            proof = merkle.consistency_proof(old, new, nodes)
            for other in range(1, 25):
                if other != old:
                    assert not merkle.verify_consistency(other, new, roots[other], roots[new], proof), (old, other, new)
                if other != new:
                    assert not merkle.verify_consistency(old, other, roots[old], roots[other], proof), (old, new, other)


def test_trivial_consistency_cases() -> None:
    r1, r2 = merkle.leaf_hash(b"one"), merkle.leaf_hash(b"two")
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, r2, [])  # the empty tree prefixes every tree
    assert not merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, r2, [r1])
    assert merkle.verify_consistency(3, 3, r1, r1, [])
    assert not merkle.verify_consistency(3, 3, r1, r2, [])
    assert not merkle.verify_consistency(3, 3, r1, r1, [r1])
    assert not merkle.verify_consistency(5, 3, r1, r2, [r1])
    assert merkle.consistency_proof(4, 4, build(entries(4))) == []


# --- Incremental storage ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 64, 100, 1000])
def test_root_builder_agrees_with_stored_root_at_every_size(size: int) -> None:
    nodes, builder = merkle.MemoryNodes(), merkle.RootBuilder()
    for i, d in enumerate(entries(size)):
        nodes.append(merkle.leaf_hash(d))
        builder.add(merkle.leaf_hash(d))
        assert builder.size == nodes.size == i + 1
        assert builder.root() == merkle.root(i + 1, nodes)


def test_new_nodes_are_written_once_and_are_complete_subtrees() -> None:
    data = entries(300)
    nodes = merkle.MemoryNodes()
    written: dict[tuple[int, int], bytes] = {}
    for index, d in enumerate(data):
        fresh = merkle.new_nodes(index, merkle.leaf_hash(d), nodes)
        assert fresh[0] == (0, index, merkle.leaf_hash(d))
        for level, idx, digest in fresh:
            assert (level, idx) not in written, f"node {(level, idx)} written twice"
            start, end = idx << level, (idx + 1) << level
            assert end == index + 1, "a node is written exactly when its last leaf arrives"
            assert digest == naive_mth(data[start:end])
            written[(level, idx)] = digest
        nodes.append(merkle.leaf_hash(d))
    assert len(written) == 2 * 300 - bin(300).count("1")


def test_reads_are_one_batch_of_logarithmically_many_nodes() -> None:
    size = 70_003
    nodes = merkle.MemoryNodes()
    for i in range(size):
        nodes.append(i.to_bytes(32, "big"))  # any 32 bytes serve as leaf hashes here
    reader = CountingReader(nodes)
    merkle.root(size, reader)
    merkle.inclusion_proof(54_321, size, reader)
    merkle.inclusion_proof(size - 1, size, reader)
    merkle.consistency_proof(12_345, size, reader)
    merkle.consistency_proof(size - 2, size, reader)
    merkle.new_nodes(2**16 - 1, bytes(32), reader)
    assert len(reader.batches) == 6
    for batch in reader.batches:
        assert len(batch) <= 2 * size.bit_length()


# --- Refused arguments ---------------------------------------------------------------------------


def test_proofs_for_impossible_positions_are_refused() -> None:
    nodes = build(entries(5))
    for bad_call in (
        lambda: merkle.inclusion_proof(5, 5, nodes),
        lambda: merkle.inclusion_proof(-1, 5, nodes),
        lambda: merkle.inclusion_proof(0, 0, nodes),
        lambda: merkle.consistency_proof(0, 5, nodes),
        lambda: merkle.consistency_proof(4, 3, nodes),
        lambda: merkle.root(-1, nodes),
        lambda: merkle.new_nodes(-1, bytes(32), nodes),
    ):
        with pytest.raises(ProofError):
            bad_call()


def test_sizes_beyond_the_stored_tree_are_refused() -> None:
    nodes = build(entries(5))
    with pytest.raises(ProofError, match="not stored"):
        merkle.root(6, nodes)
    with pytest.raises(ProofError, match="not stored"):
        merkle.inclusion_proof(0, 9, nodes)


def test_verifiers_refuse_negative_sizes_but_reject_mismatches_quietly() -> None:
    leaf = merkle.leaf_hash(b"x")
    with pytest.raises(ProofError):
        merkle.verify_inclusion(leaf, -1, 3, [], leaf)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(leaf, 0, -3, [], leaf)
    with pytest.raises(ProofError):
        merkle.verify_consistency(-1, 3, leaf, leaf, [])
    assert not merkle.verify_inclusion(leaf, 3, 3, [], leaf)
    assert not merkle.verify_inclusion(leaf, 0, 0, [], merkle.EMPTY_ROOT)
    assert merkle.verify_inclusion(leaf, 0, 1, [], leaf)
    assert not merkle.verify_inclusion(leaf, 0, 1, [leaf], leaf)
