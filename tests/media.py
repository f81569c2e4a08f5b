"""Real media files made by real tools (Pillow, exiftool, ffmpeg) for the metadata tests."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw


def make_picture(path: Path, *, seed: int = 1, size: tuple[int, int] = (640, 480), quality: int = 90) -> Path:
    """A JPEG (or PNG, by suffix) with real structure, no metadata."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        w, h = rng.randrange(20, size[0] // 2), rng.randrange(20, size[1] // 2)
        color = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.rectangle((x, y, x + w, y + h), fill=color)
        else:
            draw.ellipse((x, y, x + w, y + h), fill=color)
    if path.suffix.lower() == ".png":
        image.save(path, "PNG")
    else:
        image.save(path, "JPEG", quality=quality)
    return path


def exiftool_tag(path: Path, **tags: str | float) -> Path:
    """Write tags with exiftool, as an investigator's tooling would have."""
    args = [f"-{name}={value}" for name, value in tags.items()]
    subprocess.run(["exiftool", "-q", "-overwrite_original", *args, str(path)], check=True)
    return path


def exiftool_read(path: Path) -> dict[str, Any]:
    out = subprocess.run(["exiftool", "-j", "-n", str(path)], check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out)[0]
    return result


def make_mp4(path: Path, *, creation_time: str, duration: float = 2.0, size: str = "320x240") -> Path:
    """An H.264 MP4 from ffmpeg's test source, with a container creation time."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=duration={duration}:size={size}:rate=25",
         "-metadata", f"creation_time={creation_time}", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )
    return path


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                          str(path)], check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out)
    return result
