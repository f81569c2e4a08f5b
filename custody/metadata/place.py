"""Place and device as the file states them, without guessing.

Input is ExifTool's ``-json -G1 -n`` answer. An EXIF coordinate's hemisphere comes only from its
reference tag (a missing one leaves it unknown, never north or east); 0/0 rationals (a camera
without a fix), infinities and out-of-range values are invalid, recorded as such, never a
number; a video's ISO 6709 location atom carries its own signs.
"""

from __future__ import annotations

import math
from typing import Any

from .flags import Flag, FlagCode, make_flag

# ISO 6709 location atoms as ExifTool reads them ("lat lon [alt]", signed decimal degrees).
_VIDEO_LOCATIONS = (
    ("Keys:GPSCoordinates", "com.apple.quicktime.location.ISO6709"),
    ("UserData:GPSCoordinates", "QuickTime user data ©xyz (ISO 6709)"),
    ("ItemList:GPSCoordinates", "MP4 item list ©xyz (ISO 6709)"),
)
_DEVICE_TAGS = {
    "make": ("IFD0:Make", "Keys:Make", "UserData:Make", "ItemList:Make"),
    "model": ("IFD0:Model", "Keys:Model", "UserData:Model", "ItemList:Model"),
    "software": (
        "IFD0:Software",
        "Keys:Software",
        "UserData:Software",
        "ItemList:Software",
        "UserData:SoftwareVersion",
    ),
}
_HEMISPHERES = {"latitude": {"N": 1, "S": -1}, "longitude": {"E": 1, "W": -1}}
_LIMITS = {"latitude": 90.0, "longitude": 180.0}


def _number(value: Any) -> float | None:
    """A finite number, or None (ExifTool gives "" for 0/0, "inf"/"undef" for x/0)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _exif_gps(tags: dict[str, object]) -> tuple[dict[str, object] | None, list[Flag]]:
    if "GPS:GPSLatitude" not in tags and "GPS:GPSLongitude" not in tags:
        return None, []
    gps: dict[str, object] = {"source": "EXIF GPS (GPS:GPSLatitude/GPSLatitudeRef, GPS:GPSLongitude/GPSLongitudeRef)"}
    flags: list[Flag] = []
    problems: list[str] = []
    values: dict[str, float] = {}
    for axis, tag in (("latitude", "GPS:GPSLatitude"), ("longitude", "GPS:GPSLongitude")):
        raw = tags.get(tag)
        number = _number(raw)
        if raw is None:
            problems.append(f"{tag} is missing")
        elif number is None:
            problems.append(f"{tag} is {str(raw)!r} (0/0 or a division by zero: no fix)")
        elif not 0 <= number <= _LIMITS[axis]:
            problems.append(f"{tag} is {number}, outside 0..{_LIMITS[axis]:g}")
        else:
            values[axis] = number
    if problems:
        gps["status"] = "invalid"
        gps["reason"] = "; ".join(problems)
        invalid = f"GPS coordinates are invalid ({gps['reason']}); no position recorded"
        flags.append(make_flag(FlagCode.GPS_INVALID, invalid))
        return gps, flags
    unknown: list[str] = []
    for axis in ("latitude", "longitude"):
        ref_tag = f"GPS:GPS{axis.capitalize()}Ref"
        # Exactly one letter (EXIF: "N"/"S", "E"/"W"): "Wrong" or "Sx" does not state a hemisphere.
        ref = str(tags.get(ref_tag, "")).strip().upper()
        sign = _HEMISPHERES[axis].get(ref)
        if sign is None:
            gps[axis] = None
            gps[f"{axis}_unsigned"] = round(values[axis], 7)
            gps[f"{axis}_hemisphere"] = "unknown"
            unknown.append(f"{ref_tag} {'missing' if ref_tag not in tags else repr(tags[ref_tag])}")
        else:
            gps[axis] = round(sign * values[axis], 7)
    gps["status"] = "hemisphere unknown" if unknown else "valid"
    if unknown:
        flags.append(
            make_flag(
                FlagCode.GPS_HEMISPHERE_UNKNOWN,
                f"{', '.join(unknown)}: the hemisphere is unknown, so the sign of the coordinate is not stated",
            )
        )
    altitude = _number(tags.get("GPS:GPSAltitude"))
    if altitude is not None:
        altitude_ref = tags.get("GPS:GPSAltitudeRef")
        if altitude_ref in (0, 1, "0", "1"):
            gps["altitude"] = round(-altitude if int(altitude_ref) == 1 else altitude, 3)
        elif altitude_ref is None:
            # Unlike the hemispheres, EXIF gives GPSAltitudeRef a default: 0, above sea level.
            gps["altitude"] = round(altitude, 3)
            gps["altitude_ref"] = "missing: above sea level by the EXIF default"
        else:
            gps["altitude_unsigned"] = round(altitude, 3)
    return gps, flags


def _video_gps(tags: dict[str, object]) -> tuple[dict[str, object] | None, list[Flag]]:
    for tag, meaning in _VIDEO_LOCATIONS:
        if tag not in tags:
            continue
        parts = str(tags[tag]).split()
        numbers = [_number(p) for p in parts]
        gps: dict[str, object] = {"source": f"{tag} ({meaning})"}
        if (
            len(numbers) < 2
            or numbers[0] is None
            or numbers[1] is None
            or abs(numbers[0]) > 90
            or abs(numbers[1]) > 180
        ):
            gps["status"] = "invalid"
            gps["reason"] = f"{tag} is {str(tags[tag])!r}"
            invalid = f"location is invalid ({gps['reason']}); no position recorded"
            return gps, [make_flag(FlagCode.GPS_INVALID, invalid)]
        gps.update(status="valid", latitude=round(numbers[0], 7), longitude=round(numbers[1], 7))
        if len(numbers) > 2 and numbers[2] is not None:
            gps["altitude"] = round(numbers[2], 3)
        return gps, []
    return None, []


def place(tags: dict[str, object]) -> tuple[dict[str, object] | None, list[Flag]]:
    """The ``gps`` summary (EXIF first, then video location atoms) and its flags."""
    gps, flags = _exif_gps(tags)
    if gps is None:
        gps, flags = _video_gps(tags)
    return gps, flags


def device(tags: dict[str, object]) -> dict[str, object] | None:
    """Make, model and software, each from the first tag that states it, with ``sources``."""
    found: dict[str, object] = {}
    sources: dict[str, str] = {}
    for field, candidates in _DEVICE_TAGS.items():
        for tag in candidates:
            value = str(tags.get(tag, "")).strip("\x00 ")
            if value:
                found[field] = value
                sources[field] = tag
                break
    if not found:
        return None
    return {**found, "sources": sources}


def rotation(tags: dict[str, object]) -> dict[str, object] | None:
    """A video's display rotation in degrees (clockwise, from the track matrix), with its source."""
    value = _number(tags.get("Composite:Rotation"))
    if value is None:
        return None
    return {"degrees": int(value), "source": "Composite:Rotation (ExifTool, from the video track matrix)"}
