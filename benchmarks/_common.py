"""Shared helpers for the hand-run benchmarks: generated data, timing, subprocess runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CUSTODY = [sys.executable, "-m", "custody_cli.main"]
PASSPHRASE = "benchmark passphrase"


def compile_bytecode() -> None:
    """Compile the project as an install would, so it is not timed recompiling its own modules.

    The tools compared against run from site-packages, whose bytecode pip compiled at install.
    """
    import compileall

    for package in ("custody", "cli"):
        compileall.compile_dir(ROOT / package, quiet=1)


def make_dataset(
    folder: Path, big: int = 2, big_size: int = 200 * 1024**2, small: int = 800, small_size: int = 250 * 1024
) -> int:
    """The ~600 MB evidence set: a few large videos' worth and many photos' worth of random bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(big):
        with open(folder / f"video-{i}.bin", "wb") as fh:
            for _ in range(big_size // (8 * 1024**2)):
                fh.write(os.urandom(8 * 1024**2))
        total += big_size
    for i in range(small):
        (folder / f"photo-{i:04d}.bin").write_bytes(os.urandom(small_size))
        total += small_size
    return total


def timed(label: str, fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    print(f"  {label:<46} {elapsed:8.2f} s", flush=True)
    return elapsed


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    subprocess.run(cmd, check=True, env={**os.environ, **(env or {})}, cwd=cwd or ROOT, stdout=subprocess.DEVNULL)


def custody(archive: Path, *args: str) -> None:
    run(
        [*CUSTODY, "--archive", str(archive), "--as", "bench", *args],
        env={"CUSTODY_PASSPHRASE": PASSPHRASE, "CUSTODY_NEW_PASSPHRASE": PASSPHRASE},
    )


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    return path
