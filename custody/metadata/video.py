"""Technical metadata of videos through ffprobe (Debian's ffmpeg), a small subprocess adapter."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

_ISO6709 = re.compile(r"^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?")
FFPROBE_TIMEOUT_S = 60


def ffprobe_version() -> str | None:
    """ffprobe's version, or None when it is not installed."""
    exe = shutil.which("ffprobe")
    if exe is None:
        return None
    out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=FFPROBE_TIMEOUT_S).stdout
    return out.split()[2] if out.startswith("ffprobe version") else "unknown"


def _location(tags: dict[str, str]) -> dict[str, float] | None:
    for key in ("com.apple.quicktime.location.ISO6709", "location", "location-eng"):
        match = _ISO6709.match(tags.get(key, ""))
        if match:
            result = {"latitude": round(float(match.group(1)), 7), "longitude": round(float(match.group(2)), 7)}
            if match.group(3):
                result["altitude"] = round(float(match.group(3)), 3)
            return result
    return None


def _rate(text: str | None) -> float | None:
    try:
        value = Fraction(text or "")
    except (ValueError, ZeroDivisionError):
        return None
    return round(float(value), 3) if value else None


def extract_video(path: Path) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Summary, the full ffprobe output and warnings; a missing ffprobe is reported, not hidden."""
    exe = shutil.which("ffprobe")
    if exe is None:
        return (
            {"kind": "video", "tool_missing": "ffprobe"},
            {},
            ["ffprobe is not installed (apt-get install ffmpeg); video metadata was not read"],
        )
    proc = subprocess.run(
        [exe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        timeout=FFPROBE_TIMEOUT_S,
    )
    try:
        raw: dict[str, Any] = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        raw = {}
    warnings = [f"ffprobe: {line}" for line in proc.stderr.strip().splitlines()[:5]]
    fmt = raw.get("format", {})
    streams = raw.get("streams", [])
    if not fmt:
        return {"kind": "video"}, raw, [*warnings, "ffprobe could not read the container (corrupt or truncated)"]
    tags = {k: str(v) for k, v in (fmt.get("tags") or {}).items()}
    summary: dict[str, Any] = {"kind": "video", "container": fmt.get("format_name")}
    if tags.get("creation_time"):
        summary["captured_at"] = tags["creation_time"]
    if fmt.get("duration"):
        summary["duration_seconds"] = round(float(fmt["duration"]), 3)
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is not None:
        summary["width"] = video.get("width")
        summary["height"] = video.get("height")
        rate = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
        if rate:
            summary["frame_rate"] = rate
    summary["codecs"] = [s.get("codec_name") for s in streams if s.get("codec_name")]
    location = _location(tags)
    if location:
        summary["location"] = location
    summary["has_capture_metadata"] = "creation_time" in tags or location is not None
    return summary, raw, warnings
