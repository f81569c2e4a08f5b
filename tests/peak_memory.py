"""Run the CLI in a child process and read its own peak resident memory.

``ru_maxrss`` from ``wait4`` is useless here: Linux carries the high-water mark across
fork and exec, so the child would report the pytest worker's size. ``VmHWM`` in
``/proc/self/status`` belongs to the process image the command actually ran in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_RUNNER = """
import sys
from cli.main import main
code = main(sys.argv[1:])
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
sys.stderr.write(f"\\nPEAK-KB {peak}\\n")
sys.exit(code)
"""


def run_cli_measured(*args: str | Path, env: dict[str, str]) -> tuple[int, float, str]:
    """Exit code, peak RSS in MB, and stderr of ``custody ARGS`` in a fresh process."""
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, *map(str, args)],
        env={**os.environ, **env},
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
    )
    lines = proc.stderr.strip().splitlines()
    peak_kb = int(lines[-1].split()[1]) if lines and lines[-1].startswith("PEAK-KB") else -1
    return proc.returncode, peak_kb / 1024, proc.stderr
