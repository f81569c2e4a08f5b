"""Pictures for the report, derived from the evidence and never written back: thumbnails and keyframe strips.

Images are decoded with Pillow (at reduced scale where the format allows); videos go through ffmpeg, one frame
at each of a few positions, each call bounded in time. A file that cannot be decoded simply has no picture.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from PIL import Image, ImageOps

from ..store.base import BlobStore
from .model import Picture

THUMB_PX = 320
STRIP_FRAME_PX = 200
STRIP_FRAMES = 4
FRAME_TIMEOUT_S = 20
# Larger images are not decoded for a thumbnail: a decompression bomb must not stall an export.
MAX_IMAGE_PIXELS = 120_000_000
MAX_IMAGE_BYTES = 200_000_000


def thumbnail(stream: IO[bytes]) -> bytes | None:
    """A JPEG at most THUMB_PX on its longer side, upright per EXIF orientation; None if not decodable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    return None
                image.draft("RGB", (THUMB_PX * 2, THUMB_PX * 2))
                upright = ImageOps.exif_transpose(image)
                upright.thumbnail((THUMB_PX, THUMB_PX))
                out = io.BytesIO()
                upright.convert("RGB").save(out, "JPEG", quality=80)
                return out.getvalue()
    except Exception:
        # Pillow raises many types for hostile or damaged files; any of them means "no picture".
        return None


def _frame(exe: str, path: Path, at: float) -> Image.Image | None:
    try:
        proc = subprocess.run(
            [
                exe,
                "-nostdin",
                "-v",
                "error",
                "-ss",
                f"{at:.3f}",
                "-i",
                str(path),
                "-frames:v",
                "1",
                "-vf",
                f"scale={STRIP_FRAME_PX}:-2",
                "-f",
                "image2pipe",
                "-vcodec",
                "mjpeg",
                "pipe:1",
            ],
            capture_output=True,
            timeout=FRAME_TIMEOUT_S,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError):
        return None
    if proc.returncode != 0 or not proc.stdout:
        return None
    try:
        frame = Image.open(io.BytesIO(proc.stdout))
        frame.load()
        return frame.convert("RGB")
    except Exception:
        return None


def keyframe_strip(path: Path, seconds: float | None) -> tuple[bytes, list[float]] | None:
    """Frames at evenly spaced times side by side, as one JPEG, and the times; None without ffmpeg or frames."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        return None
    positions = [0.0] if not seconds or seconds <= 0 else [seconds * (i + 0.5) / STRIP_FRAMES for i in range(4)]
    frames: list[tuple[float, Image.Image]] = []
    for at in positions:
        frame = _frame(exe, path, at)
        if frame is not None:
            frames.append((at, frame))
    if not frames:
        return None
    height = max(f.height for _, f in frames)
    strip = Image.new("RGB", (sum(f.width for _, f in frames) + 4 * (len(frames) - 1), height), "white")
    x = 0
    for _, frame in frames:
        strip.paste(frame, (x, 0))
        x += frame.width + 4
    out = io.BytesIO()
    strip.save(out, "JPEG", quality=80)
    return out.getvalue(), [at for at, _ in frames]


@contextmanager
def _local_file(store: BlobStore, sha256: str) -> Iterator[Path]:
    """A path ffmpeg can seek in: the stored file itself (read only), or a temporary copy from a remote store."""
    path_for = getattr(store, "path_for", None)
    if path_for is not None:
        yield Path(path_for(sha256))
        return
    with tempfile.NamedTemporaryFile(prefix="custody-frames-", suffix=".bin") as tmp:
        with store.open_read(sha256) as src:
            shutil.copyfileobj(src, tmp, 1 << 20)
        tmp.flush()
        yield Path(tmp.name)


def picture_for(store: BlobStore, record: dict[str, Any]) -> Picture | None:
    """The picture of one item for its report, or None (not a picture or video, or not decodable)."""
    item, media_type, digest = str(record["item_id"]), str(record.get("media_type", "")), str(record["sha256"])
    name = f"custody/thumbnails/{item}.jpg"
    if media_type.startswith("image/"):
        if int(record.get("size") or 0) > MAX_IMAGE_BYTES:
            return None
        with store.open_read(digest) as blob:
            data = thumbnail(io.BytesIO(blob.read()))
        if data is None:
            return None
        return Picture("thumbnail", name, data, "Reduced copy made at export from the evidence file (not the evidence)")
    if media_type.startswith("video/"):
        metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
        seconds = metadata.get("duration_seconds") if isinstance(metadata, dict) else None
        with _local_file(store, digest) as path:
            made = keyframe_strip(path, float(seconds) if isinstance(seconds, int | float) else None)
        if made is None:
            return None
        data, times = made
        at = ", ".join(f"{t:.1f} s" for t in times)
        return Picture("keyframes", name, data, f"Frames at {at}, extracted at export from the evidence file")
    return None
