"""Technical metadata of images read with Pillow, without modifying the file."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, UnidentifiedImageError

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_DATETIME = 0x0132
_OFFSET_TIME = 0x9010


def _json_value(value: Any) -> Any:
    """EXIF values as JSON: rationals to floats, bytes to hex, tuples to lists."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    if isinstance(value, int | str | bool) or value is None:
        return value
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return str(value)
    return None if number != number else round(number, 9)  # NaN from a 0/0 rational


def _dms_to_degrees(dms: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(x) for x in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    degrees = d + m / 60 + s / 3600
    return round(-degrees if str(ref).upper() in {"S", "W"} else degrees, 7)


def _captured_at(exif_ifd: dict[int, Any], base: dict[int, Any]) -> tuple[str | None, str | None]:
    raw = exif_ifd.get(_DATETIME_ORIGINAL) or base.get(_DATETIME)
    if not raw or not isinstance(raw, str) or len(raw) < 19:
        return None, None
    stamp = raw[:19].replace(":", "-", 2).replace(" ", "T")
    offset = exif_ifd.get(_OFFSET_TIME_ORIGINAL) or exif_ifd.get(_OFFSET_TIME)
    if isinstance(offset, str) and len(offset.strip()) == 6:
        return stamp + offset.strip(), None
    return stamp, "unknown (local time of the device)"


def extract_image(path: Path) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Summary, complete raw tag dump and warnings for one image file."""
    warnings_found: list[str] = []
    try:
        image = Image.open(path)
    except (UnidentifiedImageError, OSError) as exc:
        return {"kind": "image"}, {}, [f"image could not be decoded: {exc}"]
    with image, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary: dict[str, Any] = {
            "kind": "image",
            "format": image.format,
            "width": image.width,
            "height": image.height,
        }
        exif = image.getexif()
        base = dict(exif)
        exif_ifd = dict(exif.get_ifd(_EXIF_IFD))
        gps_ifd = dict(exif.get_ifd(_GPS_IFD))
        raw: dict[str, Any] = {
            "format": image.format,
            "mode": image.mode,
            "size": [image.width, image.height],
            "info": {k: _json_value(v) for k, v in image.info.items() if k not in {"exif", "icc_profile", "xmp"}},
            "exif": {
                ExifTags.TAGS.get(k, str(k)): _json_value(v) for k, v in base.items() if k not in {_EXIF_IFD, _GPS_IFD}
            },
            "exif_ifd": {ExifTags.TAGS.get(k, str(k)): _json_value(v) for k, v in exif_ifd.items()},
            "gps_ifd": {ExifTags.GPSTAGS.get(k, str(k)): _json_value(v) for k, v in gps_ifd.items()},
        }
        if "xmp" in image.info:
            xmp = image.info["xmp"]
            raw["xmp"] = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
        captured, zone = _captured_at(exif_ifd, base)
        if captured:
            summary["captured_at"] = captured
            if zone:
                summary["captured_at_zone"] = zone
        if gps_ifd.get(2) is not None and gps_ifd.get(4) is not None:
            gps: dict[str, Any] = {
                "latitude": _dms_to_degrees(gps_ifd[2], gps_ifd.get(1, "N")),
                "longitude": _dms_to_degrees(gps_ifd[4], gps_ifd.get(3, "E")),
            }
            if gps_ifd.get(6) is not None:
                altitude = _json_value(gps_ifd[6])
                if isinstance(altitude, float | int):
                    below = gps_ifd.get(5) in (1, b"\x01")
                    gps["altitude"] = round(-altitude if below else float(altitude), 3)
            summary["gps"] = gps
        device = {key: base.get(tag) for key, tag in (("make", 0x010F), ("model", 0x0110), ("software", 0x0131))}
        if any(device.values()):
            summary["device"] = {k: str(v).strip("\x00 ") for k, v in device.items() if v}
        if base.get(0x0112):
            summary["orientation"] = int(base[0x0112])
        summary["has_exif"] = bool(base or exif_ifd or gps_ifd)
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as exc:
            warnings_found.append(f"image data could not be fully decoded (corrupt or truncated): {exc}")
    return summary, raw, warnings_found
