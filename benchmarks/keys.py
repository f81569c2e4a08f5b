"""Key benchmark: cost of one passphrase guess; show/annotate latency with and without the unlock agent.

Run by hand: ``.venv/bin/python benchmarks/keys.py [--items 10000] [--runs 7]``. The archive is built
through the library (10,000 small items ingested in one call); each command is then run as a user
runs it (a fresh ``python -m cli.main`` process). Targets: a guess >= 0.3 s (scrypt at
custody.keys.PRODUCTION_KDF); median show/annotate <= 0.4 s with the agent.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _common import CUSTODY, ROOT, compile_bytecode

from custody import keys, records
from custody.archive import Archive
from custody.errors import WrongPassphraseError
from custody.ingest import ingest
from custody.initialise import init_archive

PASSPHRASE = "benchmark passphrase for the key tests"


def guess_seconds(key_file: Path, runs: int) -> float:
    """Median time to reject one wrong passphrase against a production key file."""
    times = []
    for i in range(runs):
        start = time.perf_counter()
        with contextlib.suppress(WrongPassphraseError):
            keys.load_private(key_file, f"wrong guess {i}", "bench")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build(root: Path, items: int) -> None:
    init_archive(root, "bench", lambda _n: PASSPHRASE).close()
    files = root.parent / "files"
    files.mkdir()
    for i in range(items):
        (files / f"doc-{i:05d}.txt").write_bytes(f"document {i}\n".encode() + os.urandom(64))
    acting = Archive.open(root).act("bench", lambda _n: PASSPHRASE)
    try:
        ingest(acting, [files], records.Provenance(), recursive=True)
    finally:
        acting.archive.close()


def latency(root: Path, args: list[str], runs: int, passphrase: str) -> float:
    env = {**os.environ, "CUSTODY_ARCHIVE": str(root), "CUSTODY_ACTOR": "bench", "CUSTODY_PASSPHRASE": passphrase}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([*CUSTODY, *args], check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    opts = parser.parse_args()
    compile_bytecode()
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        os.environ["XDG_RUNTIME_DIR"] = tmp
        root = Path(tmp) / "archive"
        cost = keys.PRODUCTION_KDF
        print(f"scrypt N=2^{cost.n.bit_length() - 1} r={cost.r} p={cost.p} ({cost.n * cost.r * 128 >> 20} MiB)")
        start = time.perf_counter()
        build(root, opts.items)
        print(f"  built an archive of {opts.items} items in {time.perf_counter() - start:.1f} s")
        guess = guess_seconds(root / "keys" / "bench.signing.pem", opts.runs)
        print(f"  one passphrase guess (median of {opts.runs})      {guess:8.3f} s  (target >= 0.3 s)")
        show = ["show", "EV-000001"]
        note = ["annotate", f"EV-{opts.items // 2:06d}", "benchmark note"]
        without = {name: latency(root, a, opts.runs, PASSPHRASE) for name, a in (("show", show), ("annotate", note))}
        unlock = [*CUSTODY, "--archive", str(root), "--as", "bench", "unlock", "--for", "30m"]
        env = {**os.environ, "CUSTODY_PASSPHRASE": PASSPHRASE}
        subprocess.run(unlock, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        try:
            with_agent = {
                name: latency(root, a, opts.runs, "not used") for name, a in (("show", show), ("annotate", note))
            }
        finally:
            subprocess.run([*CUSTODY, "--archive", str(root), "--as", "bench", "lock"], check=True, cwd=ROOT,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        for name in ("show", "annotate"):
            print(f"  {name:<9} median without agent {without[name]:6.3f} s, with agent {with_agent[name]:6.3f} s "
                  f"(ratio {without[name] / with_agent[name]:.1f}x; target with agent <= 0.4 s)")  # fmt: skip


if __name__ == "__main__":
    main()
