"""Pixel-level facts about images from Pillow: does the image decode, its size, its perceptual hash.

Metadata comes from ExifTool (see extract.py); Pillow only decodes, within a memory bound: an
image above ``MAX_DECODE_PIXELS`` is not decoded (a JPEG is, at a reduced scale, which its
format allows without holding the full-size pixels), so a hostile "pixel bomb" costs nothing.
Pillow's warnings are silenced where the package is imported (custody/metadata/__init__.py).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

# Pillow's own warning threshold (about 89 megapixels); Pillow refuses twice that outright.
MAX_DECODE_PIXELS = 89_478_485
# A JPEG larger than the bound is decoded at 1/2 .. 1/8 scale to at most this many pixels.
_DRAFT_BOX = (4096, 4096)


@cache
def _heif_plugin() -> str | None:
    """Register HEIC/HEIF decoding (pillow-heif); its version, or None without it."""
    try:
        import pillow_heif
    except ImportError:
        return None
    pillow_heif.register_heif_opener()
    return str(pillow_heif.__version__)


def decoder_versions() -> dict[str, str]:
    """Pillow's version and, when installed, pillow-heif's."""
    import PIL

    versions = {"Pillow": PIL.__version__}
    heif = _heif_plugin()
    if heif:
        versions["pillow-heif"] = heif
    return versions


def _image_hash(image: Image.Image) -> str:
    import imagehash  # numpy and scipy come with it: loaded only when a picture needs hashing

    return str(imagehash.phash(image.convert("RGB")))


def decode_image(path: Path) -> tuple[dict[str, Any], list[str]]:
    """``{"format", "width", "height", "decode_check", "phash"?}`` and problems found; never raises."""
    _heif_plugin()
    problems: list[str] = []
    try:
        image = Image.open(path)
    except Image.DecompressionBombError as exc:
        return {"decode_check": "skipped", "decode_skipped": f"pixel bomb refused by Pillow: {exc}"}, []
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        return {"decode_check": "failed"}, [f"image could not be decoded: {exc}"]
    with image:
        facts: dict[str, object] = {"format": image.format, "width": image.width, "height": image.height}
        pixels = image.width * image.height
        if pixels > MAX_DECODE_PIXELS:
            if image.format != "JPEG":
                facts["decode_check"] = "skipped"
                facts["decode_skipped"] = (
                    f"{pixels / 1e6:.0f} megapixels, above the decoding bound of {MAX_DECODE_PIXELS / 1e6:.0f}"
                )
                return facts, problems
            image.draft("RGB", _DRAFT_BOX)
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            facts["decode_check"] = "failed"
            problems.append(f"image data could not be fully decoded (corrupt or truncated): {exc}")
            return facts, problems
        facts["decode_check"] = "complete"
        try:
            facts["phash"] = _image_hash(image)
        except (OSError, ValueError) as exc:
            problems.append(f"perceptual hash not computed: {exc}")
    return facts, problems
