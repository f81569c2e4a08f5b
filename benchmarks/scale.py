"""Scale benchmarks (issue 18): incremental verification on a large log, catalog queries at 10^4..10^6 items.

Run by hand:

    .venv/bin/python benchmarks/scale.py since [--events 1000000] [--new 1000] [--baseline] [--work DIR]
    .venv/bin/python benchmarks/scale.py catalog [--max 1000000] [--pg URL]
    .venv/bin/python benchmarks/scale.py ingest [--files 100000] [--size 1024] [--work DIR]

``since``: grows a SQLite archive's log to ``--events`` events through the library (each event
signed by the actor's key, hash-chained, its Merkle nodes stored, a signed checkpoint per
transaction of 5000), keeps the latest checkpoint, then appends ``--new`` events (ingests of
small files, with their records and blobs, and annotations) and times ``verify --since`` from the
kept checkpoint (custody.incremental.verify_since, key unlock excluded). Target: < 2 s for 10^3
new events on 10^6. With ``--baseline`` the same run also times the full log walk that
``verify --all`` does, for the ratio.

``catalog``: builds items in bulk through the library's models on a fresh PostgreSQL database
(benchmarks/catalog_build.py: signed records, signed ingest events with stored Merkle nodes, case
rows, a signed checkpoint per 5000) and prints the medians of ``show`` (which logs a view event),
``list --case`` and ``log ITEM`` at 10^4, 10^5, 10^6 items, then the query plans. Target: show and a
filtered list under 0.3 s at 10^6 items.

``ingest``: ``custody ingest -r`` of ``--files`` small files into a fresh SQLite archive (passphrase
given per command, as a script runs it), against ``cp -r`` + ``sync`` + ``sha256sum`` of the same
files measured in the same run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from custody.archive import Acting, Archive
from custody.initialise import init_archive
from custody.log import tree

PASSPHRASE = "benchmark passphrase"
STEP = 5000


def _archive(root: Path, db_url: str | None = None) -> Acting:
    init_archive(root, "bench", lambda _n: PASSPHRASE, db_url=db_url).close()
    acting = Archive.open(root).act("bench", lambda _n: PASSPHRASE)
    acting.unlock()
    return acting


def _annotate(acting: Acting, count: int, label: str) -> None:
    with acting.writing() as session:
        for n in range(count):
            acting.append(session, "annotate", {"text": f"{label} note {n}", "tags": [], "supersedes": None})


def grow(acting: Acting, target: int) -> float:
    """Append annotations until the log holds ``target`` events; returns events per second."""
    with acting.archive.db.read() as session:
        size = tree.tree_size(session)
    start, first = time.perf_counter(), size
    while size < target:
        step = min(STEP, target - size)
        _annotate(acting, step, "benchmark")
        size += step
        if size % 100_000 < STEP:
            print(f"    {size} events ({(size - first) / (time.perf_counter() - start):.0f}/s)", flush=True)
    return (size - first) / max(time.perf_counter() - start, 1e-9)


def since(args: argparse.Namespace) -> None:
    from custody.incremental import verify_since
    from custody.ingest import ingest
    from custody.proofs import latest_note
    from custody.records import Provenance

    work = Path(args.work or tempfile.mkdtemp(prefix="custody-scale-"))
    root = work / "since"
    if (root / "custody.toml").exists():
        acting = Archive.open(root).act("bench", lambda _n: PASSPHRASE)
        acting.unlock()
    else:
        acting = _archive(root)
    print(f"growing the log to {args.events} events in {root} ...", flush=True)
    start = time.perf_counter()
    rate = grow(acting, args.events)
    print(f"  built in {time.perf_counter() - start:.0f} s ({rate:.0f} events/s appended)", flush=True)
    kept = latest_note(acting.archive)

    files = work / "new-files"
    files.mkdir(exist_ok=True)
    n_files = min(100, args.new // 2)
    paths = []
    for n in range(n_files):
        path = files / f"new-{uuid.uuid4().hex}.txt"
        path.write_text(f"new evidence {n} {uuid.uuid4()}\n")
        paths.append(path)
    before = _size(acting)
    ingest(acting, paths, Provenance(case="BENCH"))
    _annotate(acting, args.new - (_size(acting) - before), "new")
    new = _size(acting) - int(kept.splitlines()[1])
    print(f"appended {new} new events ({n_files} ingests with their records and blobs)", flush=True)

    times = []
    for _ in range(3):
        start = time.perf_counter()
        result = verify_since(acting, kept, "kept")
        times.append(time.perf_counter() - start)
        assert result.report.ok, [c for c in result.report.failures]
    print(
        f"verify --since on a {args.events}-event log with {new} new events: median {statistics.median(times):.2f} s "
        f"(runs {', '.join(f'{t:.2f}' for t in times)}; target < 2 s)",
        flush=True,
    )
    if args.baseline:
        from custody.checks import Report
        from custody.logwalk import walk_log

        start = time.perf_counter()
        with acting.archive.db.snapshot() as session:
            walk_log(session, Report())
        full = time.perf_counter() - start
        print(f"baseline, the full log walk of verify --all: {full:.1f} s = {full / statistics.median(times):.0f} x")


def _size(acting: Acting) -> int:
    with acting.archive.db.read() as session:
        return tree.tree_size(session)


def _median(fn: Callable[[int], object], rounds: int = 20) -> float:
    times = []
    for n in range(rounds):
        start = time.perf_counter()
        fn(n)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def catalog(args: argparse.Namespace) -> None:
    from catalog_build import CASES, add_items
    from sqlalchemy import create_engine, text

    from custody.items import history, list_items, show_item

    work = Path(args.work or tempfile.mkdtemp(prefix="custody-catalog-"))
    name = f"custody_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.pg.rsplit("/", 1)[0] + "/" + name
    try:
        acting = _archive(work / "catalog", url)
        print(f"PostgreSQL catalog {name}; items built in bulk through the library's models (signed records,")
        print("signed ingest events with stored Merkle nodes, a signed checkpoint per 5000); medians of 20, key")
        print("unlock excluded:")
        print(f"  {'items':>9} {'build s':>8} {'show s':>8} {'list --case s':>14} {'(rows)':>7} {'log ITEM s':>11}")
        rng = random.Random(7)
        have, size = 0, 10_000
        while size <= args.max:
            start = time.perf_counter()
            add_items(acting, size - have)
            built = time.perf_counter() - start
            have = size
            ids = [f"EV-{rng.randrange(1, have + 1):06d}" for _ in range(20)]
            case_ids = [f"CASE-{rng.randrange(CASES):04d}" for _ in range(20)]
            show = _median(lambda n, ids=ids: show_item(acting, ids[n]))
            rows = len(list_items(acting, case=case_ids[0]))
            listed = _median(lambda n, cases=case_ids: list_items(acting, case=cases[n]))
            logged = _median(lambda n, ids=ids: history(acting, ids[n]))
            print(f"  {have:>9} {built:>8.0f} {show:>8.3f} {listed:>14.3f} {rows:>7} {logged:>11.3f}", flush=True)
            size *= 10
        with acting.archive.db.read() as session:
            for label, sql in (
                (
                    "list --case",
                    "SELECT items.* FROM items JOIN item_cases ON item_cases.item_id = items.item_id "
                    "WHERE item_cases.case_id = 'CASE-0001' ORDER BY items.num",
                ),
                (
                    "log ITEM",
                    "SELECT * FROM events WHERE seq IN (SELECT seq FROM event_items "
                    "WHERE item_id = 'EV-000001') ORDER BY seq",
                ),
                ("show", "SELECT * FROM items WHERE item_id = 'EV-000001'"),
            ):
                plan = [row[0] for row in session.execute(text("EXPLAIN " + sql))]
                print(f"\nquery plan, {label}:\n  " + "\n  ".join(plan))
        acting.archive.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def ingest_many(args: argparse.Namespace) -> None:
    import os
    import subprocess
    import sys

    work = Path(args.work or tempfile.mkdtemp(prefix="custody-ingest-many-"))
    data = work / "small"
    if not data.exists():
        print(f"writing {args.files} files of {args.size} bytes in {data} ...", flush=True)
        for n in range(args.files):
            folder = data / f"{n // 1000:04d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"doc-{n:06d}.txt").write_bytes(os.urandom(args.size))
    root = work / f"archive-{uuid.uuid4().hex[:6]}"
    init_archive(root, "bench", lambda _n: PASSPHRASE).close()
    env = dict(os.environ, CUSTODY_ARCHIVE=str(root), CUSTODY_ACTOR="bench", CUSTODY_PASSPHRASE=PASSPHRASE)

    def timed(cmd: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start

    copy = work / f"copy-{uuid.uuid4().hex[:6]}"
    hand = f"cp -r {data} {copy} && sync && find {copy} -type f -exec sha256sum {{}} + >/dev/null"
    by_hand = timed(["sh", "-c", hand])
    custody = timed([sys.executable, "-m", "custody_cli.main", "ingest", "-r", str(data), "--case", "BENCH"])
    print(
        f"ingest of {args.files} files of {args.size} bytes: {custody:.0f} s ({args.files / custody:.0f} files/s); "
        f"cp -r + sync + sha256sum of the same files: {by_hand:.1f} s; ratio {custody / by_hand:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("since")
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--new", type=int, default=1000)
    p.add_argument("--baseline", action="store_true")
    p.add_argument("--work")
    c = sub.add_parser("catalog")
    c.add_argument("--max", type=int, default=1_000_000)
    c.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    c.add_argument("--work")
    i = sub.add_parser("ingest")
    i.add_argument("--files", type=int, default=100_000)
    i.add_argument("--size", type=int, default=1024)
    i.add_argument("--work")
    args = parser.parse_args()
    if args.what == "since":
        since(args)
    elif args.what == "catalog":
        catalog(args)
    else:
        ingest_many(args)


if __name__ == "__main__":
    main()
