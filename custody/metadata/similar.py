"""Perceptual hashes: the same picture or footage re-encoded, resized or re-uploaded."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

from PIL import Image

VIDEO_FRAMES = 4


def _image_hash(image: Image.Image) -> str:
    import imagehash  # numpy and scipy come with it: loaded only when a picture needs hashing

    return str(imagehash.phash(image.convert("RGB")))


def perceptual_hash(path: Path, media_type: str) -> str | None:
    """pHash (hex) of an image; pHashes of a few keyframes of a video, comma separated."""
    if media_type.startswith("image/"):
        try:
            with warnings.catch_warnings(), Image.open(path) as image:
                warnings.simplefilter("ignore")
                return _image_hash(image)
        except (OSError, ValueError, SyntaxError):
            return None
    if media_type.startswith("video/"):
        return _video_hash(path)
    return None


def _video_hash(path: Path) -> str | None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    with tempfile.TemporaryDirectory(prefix="custody-frames-") as tmp:
        # The thumbnail filter picks the most representative frame of each 100; re-encoded copies pick alike.
        proc = subprocess.run(
            [
                ffmpeg,
                "-v",
                "error",
                "-i",
                str(path),
                "-vf",
                "thumbnail,scale=256:-2,fps=1",
                "-frames:v",
                str(VIDEO_FRAMES),
                f"{tmp}/f%02d.png",
            ],
            capture_output=True,
            timeout=120,
        )
        frames = sorted(Path(tmp).glob("f*.png"))
        if proc.returncode != 0 or not frames:
            return None
        hashes = []
        for frame in frames:
            with Image.open(frame) as image:
                hashes.append(_image_hash(image))
        return ",".join(hashes)


def hash_distance(a: str, b: str) -> int:
    """Hamming distance; for videos, the smallest over pairs of keyframes."""
    import imagehash

    return int(min(imagehash.hex_to_hash(x) - imagehash.hex_to_hash(y) for x in a.split(",") for y in b.split(",")))
