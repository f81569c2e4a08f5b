"""Perceptual hashes: the same picture or footage re-encoded, resized or re-uploaded.

Video frames are scaled down inside ffmpeg before anything is kept (the thumbnail filter holds
100 frames while it chooses one: at 8K that was gigabytes), decoded on one thread (a frame-
threaded 8K decoder holds several frames per thread), and the run is stopped after
``FFMPEG_TIMEOUT_S``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from .image import _image_hash

VIDEO_FRAMES = 4
FFMPEG_TIMEOUT_S = 120.0


class HashTimeout(Exception):
    """ffmpeg did not finish within the deadline; it was stopped."""


def video_hash(path: Path) -> str | None:
    """pHashes of a few representative frames, comma separated; None if none could be decoded.

    Raises HashTimeout when ffmpeg overruns its deadline.
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    with tempfile.TemporaryDirectory(prefix="custody-frames-") as tmp:
        # The thumbnail filter picks the most representative frame of each 100; re-encoded copies pick alike.
        command = [
            ffmpeg,
            "-nostdin",
            "-v",
            "error",
            "-threads",
            "1",
            "-i",
            str(path),
            "-vf",
            # Frames larger than 640x640 are scaled into that box first, so the 100 frames the thumbnail
            # filter holds stay small; smaller ones pass unchanged, keeping the hashes of earlier
            # ingests comparable.
            "scale='min(640,iw)':'min(640,ih)':force_original_aspect_ratio=decrease,thumbnail,scale=256:-2,fps=1",
            "-frames:v",
            str(VIDEO_FRAMES),
            f"{tmp}/f%02d.png",
        ]
        try:
            proc = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise HashTimeout(f"ffmpeg did not finish within {FFMPEG_TIMEOUT_S:g} s; stopped") from None
        frames = sorted(Path(tmp).glob("f*.png"))
        if proc.returncode != 0 or not frames:
            return None
        hashes = []
        for frame in frames:
            with Image.open(frame) as image:
                hashes.append(_image_hash(image))
        return ",".join(hashes)


def perceptual_hash(path: Path, media_type: str) -> str | None:
    """pHash (hex) of an image; pHashes of a few keyframes of a video, comma separated."""
    if media_type.startswith("image/"):
        from .image import decode_image

        return decode_image(path)[0].get("phash")
    if media_type.startswith("video/"):
        try:
            return video_hash(path)
        except HashTimeout:
            return None
    return None


def hash_distance(a: str, b: str) -> int:
    """Hamming distance; for videos, the smallest over pairs of keyframes."""
    import imagehash

    return int(min(imagehash.hex_to_hash(x) - imagehash.hex_to_hash(y) for x in a.split(",") for y in b.split(",")))
