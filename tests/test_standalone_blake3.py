"""The standalone verifier's pure-Python BLAKE3 against published digests and the blake3 package custody uses.

The lengths cross every boundary of the BLAKE3 tree: the 64-byte block, the 1024-byte chunk, the parent
nodes of 2, 3, 4, ... chunks, and the verifier's own groups of LANES chunks hashed at once.
"""

from __future__ import annotations

import io
import random

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.bundle.standalone import verify_bundle as vb

GROUP = vb.LANES * vb.CHUNK_LEN
BOUNDARIES = [0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 2049, 3072, 4097, 16385, 31745, 100_000, 102_400,
              GROUP - 1, GROUP, GROUP + 1, 2 * GROUP + 1025, 3 * GROUP + 5000]  # fmt: skip

# Published BLAKE3 digests (hash mode, 32 bytes): the official test vectors, whose input of length n is the
# bytes i % 251 for i < n, and the digest of "abc".
PUBLISHED = {
    0: "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
    1: "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
    1023: "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11",
    1024: "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
    1025: "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444",
    2048: "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a",
    102_400: "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085",
}


@pytest.mark.parametrize("length", list(PUBLISHED))
def test_the_standalone_blake3_gives_the_official_test_vectors(length: int) -> None:
    assert vb.blake3_hex(bytes(i % 251 for i in range(length))) == PUBLISHED[length]


def test_the_standalone_blake3_of_abc_is_the_published_digest() -> None:
    assert vb.blake3_hex(b"abc") == "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"


@settings(max_examples=60, deadline=None)
@given(
    length=st.sampled_from(BOUNDARIES) | st.integers(min_value=0, max_value=5000),
    seed=st.integers(min_value=0, max_value=2**32),
    pieces=st.lists(st.integers(min_value=1, max_value=70_000), max_size=8),
)
def test_the_standalone_blake3_agrees_with_the_blake3_package_however_the_input_is_fed(
    length: int, seed: int, pieces: list[int]
) -> None:
    data = random.Random(seed).randbytes(length)
    streamed, at = vb.Blake3(), 0
    for size in pieces:
        streamed.update(data[at : at + size])
        at += size
    streamed.update(data[at:])
    assert streamed.hexdigest() == blake3.blake3(data).hexdigest()


@pytest.mark.parametrize("length", BOUNDARIES)
def test_the_standalone_blake3_agrees_with_the_blake3_package_at_each_tree_boundary(length: int) -> None:
    data = random.Random(length).randbytes(length)
    assert vb.blake3_hex(data) == blake3.blake3(data).hexdigest()


def test_hashing_a_file_in_the_standalone_verifier_reports_its_progress_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = random.Random(7).randbytes(3 * 2**20)
    digest, size = vb.hash_stream(io.BytesIO(data), len(data), "data/EV-000001/clip.mp4", every=0.0)
    assert (digest, size) == (blake3.blake3(data).hexdigest(), len(data))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("  hashing data/EV-000001/clip.mp4: 3 of 3 MB, ")
