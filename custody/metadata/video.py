"""Stream facts of videos from ffprobe (Debian's ffmpeg): container, duration, codecs, frame rate.

Capture time, place, device and rotation come from ExifTool (see extract.py). A run that
overruns ``FFPROBE_TIMEOUT_S`` is stopped and reported, never left to stall the batch.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

FFPROBE_TIMEOUT_S = 60.0
_VERSION_TIMEOUT_S = 30.0


@cache
def _version(exe: str) -> str:
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=_VERSION_TIMEOUT_S).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.split()[2] if out.startswith("ffprobe version") else "unknown"


def ffprobe_version() -> str | None:
    """ffprobe's version, or None when it is not installed."""
    exe = shutil.which("ffprobe")
    return None if exe is None else _version(exe)


def _rate(text: str | None) -> float | None:
    try:
        value = Fraction(text or "")
    except (ValueError, ZeroDivisionError):
        return None
    return round(float(value), 3) if value else None


def probe_video(path: Path) -> tuple[dict[str, object] | None, dict[str, object], list[str], bool]:
    """Stream facts (None without ffprobe), the full ffprobe output, problems, and whether the read timed out."""
    exe = shutil.which("ffprobe")
    if exe is None:
        return None, {}, [], False
    try:
        proc = subprocess.run(
            [exe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=FFPROBE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {}, {}, [f"ffprobe did not finish within {FFPROBE_TIMEOUT_S:g} s; stopped"], True
    try:
        raw: dict[str, Any] = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        raw = {}
    problems = [f"ffprobe: {line}" for line in proc.stderr.strip().splitlines()[:5]]
    fmt = raw.get("format", {})
    streams = raw.get("streams", [])
    if not fmt:
        return {}, raw, [*problems, "ffprobe could not read the container (corrupt or truncated)"], False
    facts: dict[str, Any] = {"container": fmt.get("format_name")}
    if fmt.get("duration"):
        with contextlib.suppress(ValueError):
            facts["duration_seconds"] = round(float(fmt["duration"]), 3)
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is not None:
        facts["width"] = video.get("width")
        facts["height"] = video.get("height")
        rate = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
        if rate:
            facts["frame_rate"] = rate
    facts["codecs"] = [s.get("codec_name") for s in streams if s.get("codec_name")]
    return facts, raw, problems, False
