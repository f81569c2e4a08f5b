"""BLAKE3 speed of the standalone verifier's pure-Python code against the blake3 package, in the same run.

Run by hand: ``.venv/bin/python benchmarks/blake3_pure.py [--mb 16] [--runs 3]``. It hashes the same random
bytes with the blake3 package (what custody uses), the verifier's BLAKE3 as it runs (LANES chunks at once),
the same code one chunk at a time (LANES = 1, the plain one-block-at-a-time algorithm), and hashlib's
SHA-256 for scale, and prints MB/s (best of the runs) and the ratio to the blake3 package. Target: the
verifier's BLAKE3 at 5 MB/s or more on a current laptop core, so that a court checks 1 GB in a few minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from collections.abc import Callable

import blake3

from custody.bundle.standalone import verify_bundle as vb


def rate(fn: Callable[[bytes], str], data: bytes, runs: int) -> float:
    """Best MB/s of ``runs`` runs of ``fn`` over ``data``."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn(data)
        best = min(best, time.perf_counter() - start)
    return len(data) / best / 1e6


def one_lane(data: bytes) -> str:
    lanes, vb.LANES = vb.LANES, 1
    try:
        return vb.blake3_hex(data)
    finally:
        vb.LANES = lanes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=16, help="megabytes hashed per run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data = os.urandom(args.mb * 10**6)
    want = blake3.blake3(data).hexdigest()
    assert vb.blake3_hex(data) == want and one_lane(data[: 10**6]) == blake3.blake3(data[: 10**6]).hexdigest()
    small = data[: max(10**6, len(data) // 8)]  # the one-lane code is slow: a smaller sample
    results = [
        ("blake3 package (custody)", rate(lambda d: blake3.blake3(d).hexdigest(), data, args.runs)),
        (f"verify_bundle.py BLAKE3, {vb.LANES} lanes", rate(vb.blake3_hex, data, args.runs)),
        ("verify_bundle.py BLAKE3, 1 lane", rate(one_lane, small, args.runs)),
        ("hashlib SHA-256 (scale)", rate(lambda d: hashlib.sha256(d).hexdigest(), data, args.runs)),
    ]
    baseline = results[0][1]
    print(f"BLAKE3 over {args.mb} MB, best of {args.runs}:")
    for label, mbs in results:
        print(f"  {label:<40} {mbs:10.1f} MB/s   {mbs / baseline:8.4f} x the blake3 package")


if __name__ == "__main__":
    main()
