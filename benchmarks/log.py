"""Custody-log benchmark: append rate, proof times at 10^4..10^6 events, full verification.

Run by hand: ``.venv/bin/python benchmarks/log.py [--max 1000000] [--pg URL]``. Events are
generated through the library (signed, hash-chained, Merkle tree kept incrementally).
Targets: proofs under 5 ms at 10^6 events and growing with log n; full verification of 10^6
events under 60 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from custody.archive import Acting, Archive
from custody.catalog_check import check_catalog
from custody.checks import Report
from custody.initialise import init_archive
from custody.log import merkle, tree
from custody.logwalk import walk_log

PASSPHRASE = "benchmark passphrase"


def _archive(root: Path, db_url: str | None) -> Acting:
    init_archive(root, "bench", lambda _n: PASSPHRASE, db_url=db_url).close()
    acting = Archive.open(root).act("bench", lambda _n: PASSPHRASE)
    acting.unlock()
    return acting


def append_rate(acting: Acting, count: int, per_transaction: int) -> float:
    """Events per second, each transaction ending with a signed checkpoint."""
    start = time.perf_counter()
    done = 0
    while done < count:
        with acting.writing() as session:
            for _ in range(min(per_transaction, count - done)):
                acting.append(session, "annotate", {"text": f"benchmark note {done}", "tags": [], "supersedes": None})
                done += 1
    return count / (time.perf_counter() - start)


def grow(acting: Acting, target: int) -> None:
    with acting.archive.db.read() as session:
        size = tree.tree_size(session)
    while size < target:
        step = min(5000, target - size)
        append_rate(acting, step, step)
        size += step


def proof_times(acting: Acting, samples: int = 50) -> tuple[int, float, float]:
    with acting.archive.db.read() as session:
        size = tree.tree_size(session)
        nodes = tree.DbNodes(session)
        rng = random.Random(size)
        inclusion, consistency = [], []
        for _ in range(samples):
            index = rng.randrange(size)
            start = time.perf_counter()
            merkle.inclusion_proof(index, size, nodes)
            inclusion.append(time.perf_counter() - start)
            old = rng.randrange(1, size)
            start = time.perf_counter()
            merkle.consistency_proof(old, size, nodes)
            consistency.append(time.perf_counter() - start)
    return size, statistics.median(inclusion) * 1000, statistics.median(consistency) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max", type=int, default=1_000_000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="custody-logbench-"))

    print("append rate (events/s), one event per transaction (+ checkpoint), and 1000 per transaction:")
    sqlite = _archive(work / "sqlite", None)
    print(f"  SQLite      {append_rate(sqlite, 300, 1):8.0f}   {append_rate(sqlite, 5000, 1000):8.0f}")
    name = f"custody_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        pg = _archive(work / "pg", args.pg.rsplit("/", 1)[0] + "/" + name)
        print(f"  PostgreSQL  {append_rate(pg, 300, 1):8.0f}   {append_rate(pg, 5000, 1000):8.0f}")
        pg.archive.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    print("\nproof generation (median of 50, ms) on SQLite:")
    print(f"  {'events':>9}  {'inclusion':>9}  {'consistency':>11}")
    size = 10_000
    while size <= args.max:
        start = time.perf_counter()
        grow(sqlite, size)
        built = time.perf_counter() - start
        n, inc, con = proof_times(sqlite)
        print(f"  {n:>9}  {inc:9.3f}  {con:11.3f}   (log grown in {built:.0f} s)", flush=True)
        size *= 10

    start = time.perf_counter()
    report = Report()
    with sqlite.archive.db.read() as session:
        state = walk_log(session, report)
        elapsed = time.perf_counter() - start
        start = time.perf_counter()
        check_catalog(session, state, report, [], sqlite.archive.store)
        catalog = time.perf_counter() - start
    print(f"\nfull log verification of {state.size} events: {elapsed:.1f} s (ok={report.ok}; target < 60 s)")
    print(f"catalog check (every tree node re-hashed): {catalog:.1f} s = {catalog / elapsed:.2f} x the walk")


if __name__ == "__main__":
    main()
