"""Sample evidence for demos and benchmarks: real JPEGs with EXIF time and GPS, a transcript."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

from .errors import InputError

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 2)
    return (float(degrees), float(minutes), seconds)


def write_jpeg(
    path: Path,
    *,
    captured: str,
    offset: str,
    latitude: float,
    longitude: float,
    altitude: float,
    seed: int,
    size: tuple[int, int] = (800, 600),
) -> Path:
    """A photo-like JPEG whose EXIF says when and where it was taken, as a phone would."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, (rng.randint(60, 120), rng.randint(60, 120), rng.randint(60, 120)))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x0, y0 = rng.randint(0, size[0]), rng.randint(0, size[1])
        x1, y1 = x0 + rng.randint(10, 200), y0 + rng.randint(10, 200)
        draw.rectangle((x0, y0, x1, y1), fill=(rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)))
    exif = Image.Exif()
    exif[0x010F] = "Samsung"  # Make
    exif[0x0110] = "SM-A525F"  # Model
    exif[0x0131] = "A525FXXS7FWK1"  # Software
    exif[0x0132] = captured  # DateTime
    exif_ifd = exif.get_ifd(_EXIF_IFD)
    exif_ifd[0x9003] = captured  # DateTimeOriginal
    exif_ifd[0x9011] = offset  # OffsetTimeOriginal
    gps = exif.get_ifd(_GPS_IFD)
    gps[1] = "N" if latitude >= 0 else "S"
    gps[2] = _dms(latitude)
    gps[3] = "E" if longitude >= 0 else "W"
    gps[4] = _dms(longitude)
    gps[5] = b"\x00"
    gps[6] = float(altitude)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=88, exif=exif)
    return path


# The demo's photos: file name, EXIF capture time (at UTC+02:00), latitude, longitude, altitude (m), picture seed.
_PHOTOS: tuple[tuple[str, str, float, float, float, int], ...] = (
    ("IMG_20260228_140311.jpg", "2026:02:28 14:03:11", 47.8388, 35.1396, 98.0, 1),
    ("IMG_20260228_140502.jpg", "2026:02:28 14:05:02", 47.8391, 35.1401, 97.5, 2),
    ("submunition_close.jpg", "2026:02:28 15:20:45", 47.8379, 35.1388, 99.0, 3),
)


def write_samples(folder: Path) -> list[Path]:
    """The demo's evidence: three geotagged photos of a strike site and a witness transcript.

    Raises:
        InputError: the folder cannot be made or written to.
    """
    try:
        return _write_samples(folder)
    except OSError as exc:
        raise InputError(f"{folder}: cannot write the samples ({exc.strerror or exc}); choose a folder") from None


def _write_samples(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    photos = [
        write_jpeg(
            folder / name, captured=when, offset="+02:00", latitude=lat, longitude=lon, altitude=alt, seed=seed
        )
        for name, when, lat, lon, alt, seed in _PHOTOS
    ]
    transcript = folder / "witness_transcript.txt"
    transcript.write_text(
        "Transcript of a voice message received 1 March 2026.\n"
        "Witness W-17: 'At about two in the afternoon on the 28th we heard two explosions near the\n"
        "school on Sadova street. Small bomblets were lying in the yard afterwards.'\n",
        encoding="utf-8",
    )
    return [*photos, transcript]
