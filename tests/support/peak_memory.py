"""Run the CLI in a child process and measure the peak memory of everything it runs.

``ru_maxrss`` from ``wait4`` is useless here: Linux carries the high-water mark across
fork and exec, so the child would report the pytest worker's size. ``VmHWM`` in
``/proc/self/status`` belongs to the process image the command actually ran in.

A command may fork worker processes (ingest stores files in one), so the process tree is also
sampled every few milliseconds while it runs: the sum of each process's proportional set size
(shared pages split between the processes sharing them) is the memory the whole command holds
at that moment. The figure returned is the larger of the command's own peak and the largest
such sum; a peak shorter than the sampling interval in a forked process could be missed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_RUNNER = """
import sys
from custody_cli.main import main
code = main(sys.argv[1:])
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
sys.stderr.write(f"\\nPEAK-KB {peak}\\n")
sys.exit(code)
"""


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for parent in pids:
        # Any thread may have started a process (a store worker running ffprobe, say).
        try:
            listed = list(Path(f"/proc/{parent}/task").glob("*/children"))
        except OSError:
            continue  # the process ended while it was being listed
        for children in listed:
            try:
                pids.extend(int(p) for p in children.read_text().split())
            except OSError:
                continue
    return pids


def _pss_kb(pid: int) -> int:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0  # ended between listing and reading
    return next((int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")), 0)


def run_cli_measured(*args: str | Path, env: dict[str, str]) -> tuple[int, float, str]:
    """Exit code, peak memory in MB (of the command and any processes it forked), and stderr."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _RUNNER, *map(str, args)],
            env={**os.environ, **env},
            cwd=Path(__file__).parents[2],
            stdout=out,
            stderr=err,
            text=True,
        )
        tree_peak_kb = 0
        while proc.poll() is None:
            tree_peak_kb = max(tree_peak_kb, sum(_pss_kb(pid) for pid in _tree(proc.pid)))
            time.sleep(0.005)
        err.seek(0)
        stderr = err.read()
    lines = stderr.strip().splitlines()
    own_peak_kb = int(lines[-1].split()[1]) if lines and lines[-1].startswith("PEAK-KB") else -1
    if own_peak_kb < 0:
        return proc.returncode, -1.0, stderr
    return proc.returncode, max(own_peak_kb, tree_peak_kb) / 1024, stderr
