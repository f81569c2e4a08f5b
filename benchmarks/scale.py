"""Scale benchmarks (issue 18): incremental verification on a large log, catalog queries at 10^4..10^6 items.

Run by hand:

    .venv/bin/python benchmarks/scale.py since [--events 1000000] [--new 1000] [--baseline] [--work DIR]
    .venv/bin/python benchmarks/scale.py catalog [--db postgresql|sqlite] [--max 1000000] [--pg URL]
        [--events 10000000 --until 17:45] [--rounds 20] [--keep]
    .venv/bin/python benchmarks/scale.py ingest [--files 100000] [--size 1024] [--work DIR]

``since``: grows a SQLite archive's log to ``--events`` events through the library (each event
signed by the actor's key, hash-chained, its Merkle nodes stored, a signed checkpoint per
transaction of 5000), keeps the latest checkpoint, then appends ``--new`` events (ingests of
small files, with their records and blobs, and annotations) and times ``verify --since`` from the
kept checkpoint (custody.incremental.verify_since, key unlock excluded). Target: < 2 s for 10^3
new events on 10^6. With ``--baseline`` the same run also times the full log walk that
``verify --all`` does, for the ratio.

``catalog``: builds items in bulk on a fresh PostgreSQL database (``--db postgresql``, the default)
or SQLite archive (``--db sqlite``) (benchmarks/catalog_build.py: signed records, signed ingest
events with stored Merkle nodes, case rows, a signed checkpoint per 5000) and, at 10^4, 10^5, 10^6
items, prints the medians of what the commands run, through the library functions they call:
``show ITEM`` (which logs a view event), ``list --case`` and ``search`` with filters (query.search +
records_of, as the CLI runs them; a filtered search logs a view event), ``log ITEM``, a
whole-catalog ``search --tag``, and ``export --case`` of a case of 100 items (random items put into
a fresh case with signed case.add events, as ``custody case add`` does, their 64-byte bodies stored
for real): the signed-membership check the export makes first, then the whole export (bundle written,
export event logged; what the PDF report's rendering takes of it is printed apart). With ``--events
N`` it then appends events of use (six views, two annotations with a tag, two accesses in ten, on
random items, signed and chained like any event) up to N events, stopping at ``--until HH:MM`` UTC
if given, and times the same commands at the size reached. Then the query plans.
Targets: show and a filtered list under 0.3 s at 10^6 items on PostgreSQL; the same commands
independent of the catalog's size on both databases, except the whole-catalog search, which reads
every record, and export, which grows with the events its items carry.

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
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _items(acting: Acting) -> int:
    from sqlalchemy import func, select

    from custody.db.models import Item

    with acting.archive.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Item)) or 0)


def _timed(fn: Callable[[int], object], rounds: int) -> tuple[float, object]:
    """Median seconds of ``rounds`` calls and the last result."""
    times, result = [], None
    for n in range(rounds):
        begin = time.perf_counter()
        result = fn(n)
        times.append(time.perf_counter() - begin)
    return statistics.median(times), result


def _measure(acting: Acting, have: int, rng: random.Random, work: Path, rounds: int) -> None:
    """Time show, list --case, search, log ITEM and export --case at the catalog's current size."""
    from catalog_build import CASES, TAGS, store_blobs

    from custody.bundle import report_files
    from custody.bundle.export import export_bundle
    from custody.bundle.selection import check_case_is_signed
    from custody.cases import add_to_case
    from custody.items import history, show_item
    from custody.query import Query, records_of, search

    ids = [f"EV-{rng.randrange(1, have + 1):06d}" for _ in range(rounds)]
    cases = [f"CASE-{rng.randrange(CASES):04d}" for _ in range(rounds)]
    tags = [rng.choice(TAGS) for _ in range(rounds)]

    def listed(query: Query) -> int:
        return len(records_of(acting, search(acting, query)))

    figures: list[tuple[str, float, str]] = []

    def row(label: str, fn: Callable[[int], object], n: int = rounds, unit: str = "rows") -> None:
        median, result = _timed(fn, n)
        figures.append((label, median, f"{result} {unit}" if isinstance(result, int) else ""))

    row("show ITEM", lambda n: show_item(acting, ids[n]) and None)
    row("list --case C", lambda n: listed(Query(cases=(cases[n],))))
    row("search --case C --tag T", lambda n: listed(Query(cases=(cases[n],), tags=(tags[n],))))
    row("search --case C --text WORD", lambda n: listed(Query(cases=(cases[n],), text="plate")))
    row("log ITEM", lambda n: len(history(acting, ids[n])), unit="events")
    row("search --tag T (whole catalog)", lambda n: listed(Query(tags=(tags[n],))), 1)
    # export --case: a case of 100 items put together after ingest (signed case.add events, as
    # 'custody case add' logs them), their bytes stored for real; the whole export is timed.
    case = f"EXPORT-{uuid.uuid4().hex[:8]}"
    nums = rng.sample(range(1, have + 1), 100)
    add_to_case(acting, [f"EV-{n:06d}" for n in nums], case)
    store_blobs(acting, nums)

    def selection(_n: int) -> int:
        with acting.archive.db.read() as session:
            check_case_is_signed(session, case, set(_case_items(session, case)))
        return 100

    row("export --case: signed-membership check", selection, 3)
    rendering: list[float] = []
    stamped_pdf = report_files.stamped_pdf

    def timed_pdf(*args: Any, **kwargs: Any) -> bytes:
        # Wraps (does not replace) the report's PDF rendering, to say how much of an export it takes.
        begin = time.perf_counter()
        try:
            return stamped_pdf(*args, **kwargs)
        finally:
            rendering.append(time.perf_counter() - begin)

    def export(_n: int) -> int:
        out = work / f"bundle-{uuid.uuid4().hex[:8]}.zip"
        result = export_bundle(acting, [], out, "benchmark", case=case)
        with zipfile.ZipFile(out) as zf:
            name = next(n for n in zf.namelist() if n.endswith("/custody/events.jsonl"))
            carried = len(zf.read(name).splitlines())
        out.unlink()
        assert len(result.items) == 100
        return carried

    report_files.stamped_pdf = timed_pdf  # type: ignore[assignment]
    try:
        row("export --case (100 items, whole bundle)", export, 1, "events carried")
    finally:
        report_files.stamped_pdf = stamped_pdf  # type: ignore[assignment]
    figures.append(("  of which the PDF report's rendering", statistics.median(rendering), ""))
    for label, median, note in figures:
        print(f"    {label:<42} {median:8.3f} s  {note}", flush=True)


def _case_items(session: object, case: str) -> list[str]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from custody.db.models import ItemCase

    assert isinstance(session, Session)
    return list(session.scalars(select(ItemCase.item_id).where(ItemCase.case_id == case)))


def _deadline(until: str | None) -> float:
    """Epoch seconds of ``HH:MM`` UTC today (no limit when not given)."""
    if until is None:
        return float("inf")
    from datetime import UTC, datetime

    hour, minute = (int(part) for part in until.split(":"))
    return datetime.now(UTC).replace(hour=hour, minute=minute, second=0, microsecond=0).timestamp()


def catalog(args: argparse.Namespace) -> None:
    from catalog_build import add_events, add_items
    from sqlalchemy import create_engine, text

    work = Path(args.work or tempfile.mkdtemp(prefix="custody-catalog-"))
    name = f"custody_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT") if args.db == "postgresql" else None
    url = None
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = args.pg.rsplit("/", 1)[0] + "/" + name
    try:
        if url is None and (work / "catalog" / "custody.toml").exists():
            # Resumed: a SQLite catalog an earlier run built in this --work folder.
            acting = Archive.open(work / "catalog").act("bench", lambda _n: PASSPHRASE)
            acting.unlock()
        else:
            acting = _archive(work / "catalog", url)
        where = f"PostgreSQL database {name}" if url else f"SQLite {work / 'catalog'}"
        print(f"{where}; items built in bulk (benchmarks/catalog_build.py: signed records, signed ingest events")
        print(f"with stored Merkle nodes, a signed checkpoint per 5000); medians of {args.rounds} (3 of the membership")
        print("check; one whole-catalog search and one export), key unlock excluded:", flush=True)
        rng = random.Random(7)
        have, size = _items(acting), 10_000
        while size <= args.max:
            if size <= have:
                size *= 10
                continue
            start = time.perf_counter()
            add_items(acting, size - have)
            built = time.perf_counter() - start
            print(f"  {size} items, {_size(acting)} events (built {size - have} items in {built:.0f} s, "
                  f"{(size - have) / built:.0f} items/s)", flush=True)  # fmt: skip
            have = size
            _measure(acting, have, rng, work, args.rounds)
            size *= 10
        if args.events > _size(acting):
            deadline = _deadline(args.until)
            print(f"  adding events of use (view, annotate, access) up to {args.events} events, "
                  f"stopping at {args.until or 'the end'} UTC ...", flush=True)  # fmt: skip
            start, first = time.perf_counter(), _size(acting)
            while _size(acting) < args.events and time.time() < deadline:
                add_events(acting, min(100_000, args.events - _size(acting)), have, seed=_size(acting))
                done = _size(acting) - first
                print(f"    {_size(acting)} events ({done / (time.perf_counter() - start):.0f} events/s)", flush=True)
            print(f"  {have} items, {_size(acting)} events:", flush=True)
            _measure(acting, have, rng, work, args.rounds)
        with acting.archive.db.read() as session:
            explain = "EXPLAIN " if url else "EXPLAIN QUERY PLAN "
            for label, sql in (
                (
                    "list --case",
                    "SELECT items.* FROM items WHERE items.item_id IN (SELECT item_cases.item_id FROM item_cases "
                    "WHERE item_cases.case_id = 'CASE-0001') ORDER BY items.num",
                ),
                (
                    "log ITEM",
                    "SELECT * FROM events WHERE seq IN (SELECT seq FROM event_items "
                    "WHERE item_id = 'EV-000001') ORDER BY seq",
                ),
                ("show", "SELECT * FROM items WHERE item_id = 'EV-000001'"),
                (
                    "search: a case's items' events (annotations kept in Python)",
                    "SELECT * FROM events WHERE item_id IN ('EV-000001', 'EV-000002')",
                ),
            ):
                plan = [" ".join(str(c) for c in r) for r in session.execute(text(explain + sql))]
                print(f"\nquery plan, {label}:\n  " + "\n  ".join(plan))
        acting.archive.close()
    finally:
        if admin is not None and not args.keep:
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
    c.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    c.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    c.add_argument("--events", type=int, default=0, help="then add events of use up to this many events")
    c.add_argument("--until", help="stop adding events at this UTC time (HH:MM today)")
    c.add_argument("--rounds", type=int, default=20)
    c.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    c.add_argument("--work", help="folder (a SQLite catalog already built there is resumed)")
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
