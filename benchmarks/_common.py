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


def make_media_dataset(folder: Path, videos: int = 2, video_seconds: int = 40, photos: int = 800) -> int:
    """The same shape as ``make_dataset`` in real media: H.264 MP4s (~200 MB each) and ~250 KB JPEGs with EXIF.

    Every file goes through ExifTool, the decoding checks and the perceptual hashes at ingest, as evidence does.
    Noise keeps the sizes up: 40 Mbit/s of video, photos that JPEG cannot shrink.
    """
    import random

    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(videos):
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
             f"testsrc2=s=1920x1080:r=25:d={video_seconds},noise=alls=30:allf=t",
             "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "40M", "-maxrate", "40M", "-bufsize", "80M",
             "-pix_fmt", "yuv420p", "-metadata", f"creation_time=2022-02-28T10:4{i}:00Z",
             str(folder / f"video-{i}.mp4")],
            check=True,
        )  # fmt: skip
    rng = random.Random(7)
    for i in range(photos):
        image = Image.frombytes("RGB", (400, 400), rng.randbytes(400 * 400 * 3))
        exif = Image.Exif()
        exif[0x010F], exif[0x0110] = "Benchmark Camera", f"Model {i % 7}"  # Make, Model
        exif.get_ifd(0x8769)[0x9003] = f"2022:02:28 12:{i % 60:02d}:00"  # DateTimeOriginal
        image.save(folder / f"photo-{i:04d}.jpg", quality=92, exif=exif)
    return sum(p.stat().st_size for p in folder.iterdir())


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
