"""Key benchmark: cost of one passphrase guess; show/annotate latency with and without the unlock agent.

Run by hand: ``.venv/bin/python benchmarks/keys.py [--items 10000] [--runs 7]``. The archive is built
through the library (10,000 small items ingested in one call); each command is then run as a user
runs it (a fresh ``python -m custody_cli.main`` process; with the agent, ``unlock`` also starts the warm command
server that such a process hands the command to). Targets: a guess >= 0.3 s (scrypt at
custody.keys.PRODUCTION_KDF); median show/annotate <= 0.4 s with the agent.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
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


def latency(root: Path, args: list[str], runs: int, passphrase: str) -> tuple[float, float]:
    """Median wall-clock and CPU (user + system) seconds of one command run as a fresh process.

    On a shared, loaded machine the wall-clock time mostly measures waiting for a core; the CPU
    time is what the command itself costs.
    """
    env = {**os.environ, "CUSTODY_ARCHIVE": str(root), "CUSTODY_ACTOR": "bench", "CUSTODY_PASSPHRASE": passphrase}
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([*CUSTODY, *args], check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--reuse", type=Path, help="an archive built by an earlier run (user bench), not rebuilt")
    opts = parser.parse_args()
    compile_bytecode()
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        os.environ["XDG_RUNTIME_DIR"] = tmp
        root = opts.reuse or Path(tmp) / "archive"
        cost = keys.PRODUCTION_KDF
        print(f"scrypt N=2^{cost.n.bit_length() - 1} r={cost.r} p={cost.p} ({cost.n * cost.r * 128 >> 20} MiB)")
        if opts.reuse is None:
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
            (wall0, cpu0), (wall1, cpu1) = without[name], with_agent[name]
            print(f"  {name:<9} median without agent {wall0:6.3f} s (cpu {cpu0:.3f} s), "
                  f"with agent {wall1:6.3f} s (client cpu {cpu1:.3f} s); ratio {wall0 / wall1:.1f}x, "
                  "target with agent <= 0.4 s")  # fmt: skip
        print("  (with the agent the command runs in the command server's forked child, whose CPU time the\n"
              "   client's count does not include: judge by the wall-clock median on a quiet machine)")  # fmt: skip


if __name__ == "__main__":
    main()
