"""Capture time with its evidence: every time the file states, what each means, and which one wins.

Input is ExifTool's ``-json -G1 -n`` answer (``{"Group:Tag": value}``). Only tags that mean "when
this was captured" may become ``captured_at``, in the order of ``PRECEDENCE``; an offset is
applied only from the offset tag that belongs to that very time; sub-seconds are kept;
placeholder values (zeros, blanks, a never-set clock) are recorded as such and never win.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from .flags import Flag, FlagCode, make_flag

# A stated time may differ from the winner by this much (plus the recording's duration for a
# container time written when recording stopped) before the two are flagged as disagreeing.
TOLERANCE = timedelta(minutes=2)

_TIME = re.compile(
    r"^(\d{4})[:-](\d{2})[:-](\d{2})"
    r"(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?(?:\.(\d+))?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
# A clock that was never set starts at its epoch: Unix (1970) or QuickTime/Mac (1904).
_EPOCH_DATES = {(1970, 1, 1), (1904, 1, 1)}


@dataclass(frozen=True)
class TimeTag:
    """A time tag, the offset and sub-second tags that belong to it, and what it means."""

    tag: str
    meaning: str
    offset_tag: str | None = None
    subsec_tag: str | None = None
    # How to read a value without an offset of its own: "local" (zone unknown) or "UTC".
    bare: str = "local"
    # Written when recording stopped: the duration is added to the tolerance.
    at_stop: bool = False


# Only these may become captured_at, in this order (README: "Capture time").
PRECEDENCE: tuple[TimeTag, ...] = (
    TimeTag("Keys:CreationDate", "start of recording, local time with its offset (com.apple.quicktime.creationdate)"),
    TimeTag(
        "ExifIFD:DateTimeOriginal",
        "when the picture was taken (EXIF DateTimeOriginal)",
        "ExifIFD:OffsetTimeOriginal",
        "ExifIFD:SubSecTimeOriginal",
    ),
    TimeTag("XMP-photoshop:DateCreated", "when the content was created (XMP photoshop:DateCreated, IPTC)"),
    TimeTag("XMP-exif:DateTimeOriginal", "when the picture was taken (XMP exif:DateTimeOriginal)"),
    TimeTag("UserData:DateTimeOriginal", "content creation date (QuickTime user data ©day)"),
    TimeTag("ItemList:ContentCreateDate", "content creation date (MP4 item list ©day)"),
    TimeTag(
        "QuickTime:CreateDate",
        "container creation time: UTC by the QuickTime specification, written when recording stopped",
        bare="UTC",
        at_stop=True,
    ),
)

# Recorded as evidence, compared, never captured_at: they say when something else happened.
EVIDENCE_ONLY: tuple[TimeTag, ...] = (
    TimeTag(
        "ExifIFD:CreateDate",
        "when the image was digitised (EXIF DateTimeDigitized: the capture for a camera, the scan for a scan)",
        "ExifIFD:OffsetTimeDigitized",
        "ExifIFD:SubSecTimeDigitized",
    ),
    TimeTag("GPS:GPSDateTime", "time of the GPS fix, UTC (GPSDateStamp + GPSTimeStamp)", bare="UTC"),
    TimeTag(
        "IFD0:ModifyDate",
        "when the file was last changed (EXIF DateTime)",
        "ExifIFD:OffsetTime",
        "ExifIFD:SubSecTime",
    ),
    TimeTag("XMP-xmp:CreateDate", "when the file was created, by the software that wrote it (XMP)"),
    TimeTag("XMP-xmp:ModifyDate", "when the file was last changed (XMP)"),
    TimeTag("XMP-xmp:MetadataDate", "when the metadata was last changed (XMP)"),
    TimeTag("QuickTime:ModifyDate", "container modification time, UTC by the QuickTime specification", bare="UTC"),
)

_COMPARED = {t.tag for t in PRECEDENCE} | {"ExifIFD:CreateDate", "GPS:GPSDateTime"}


def _offset(text: str) -> timezone | None:
    match = _OFFSET.match(text.strip())
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > timedelta(hours=14) or int(minutes) >= 60:
        return None
    return timezone(-delta if sign == "-" else delta)


def _iso_offset(zone: timezone) -> str:
    delta = zone.utcoffset(None)
    if delta == timedelta(0):
        return "Z"
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _placeholder(text: str) -> str | None:
    """Why a value is not a time at all, or None."""
    digits = [c for c in text if c.isdigit()]
    if not digits:
        return "blank"
    if set(digits) == {"0"}:
        return "all zeros"
    match = _TIME.match(text.strip())
    if match is not None:
        year, month, day = (int(g) for g in match.groups()[:3])
        if (year, month, day) in _EPOCH_DATES:
            return f"clock never set ({year}-01-01, an epoch start)"
        if year == 0 or month == 0 or day == 0:
            return "zero date"
    return None


def _gps_datetime(tags: dict[str, object]) -> str | None:
    date, time = tags.get("GPS:GPSDateStamp"), tags.get("GPS:GPSTimeStamp")
    if date is None or time is None:
        return None
    return f"{date} {time}"


def _candidate(spec: TimeTag, raw: Any, tags: dict[str, object], eligible: bool) -> dict[str, object]:
    text = str(raw)
    out: dict[str, object] = {"tag": spec.tag, "value": text, "meaning": spec.meaning, "eligible": eligible}
    why = _placeholder(text)
    if why is not None:
        out["status"] = "placeholder"
        out["reason"] = why
        return out
    match = _TIME.match(text.strip())
    if match is None:
        out["status"] = "unparseable"
        return out
    year, month, day, hour, minute, second, fraction, stated = match.groups()
    if hour is None:
        out["status"] = "date only"
        return out
    try:
        when = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    except ValueError:
        out["status"] = "unparseable"
        return out
    subsec = fraction
    if spec.subsec_tag and tags.get(spec.subsec_tag) is not None and not fraction:
        digits = "".join(c for c in str(tags[spec.subsec_tag]) if c.isdigit())
        if digits:
            subsec = digits
            out["subsec_tag"] = spec.subsec_tag
    zone: timezone | None = None
    if stated:
        zone = UTC if stated == "Z" else _offset(stated)
        out["zone"] = (
            "offset stated in the value"
            if zone is not None
            else f"zone unknown (the value states {stated}, which is not a UTC offset)"
        )
    elif spec.offset_tag and tags.get(spec.offset_tag) is not None and _offset(str(tags[spec.offset_tag])):
        zone = _offset(str(tags[spec.offset_tag]))
        out["zone"] = f"offset from {spec.offset_tag}"
    elif spec.bare == "UTC":
        zone = UTC
        out["zone"] = "UTC by the format's specification"
    else:
        out["zone"] = "zone unknown (local time of the device)"
    # isoformat, not strftime("%Y"): strftime writes year 999 as "999", which no ISO parser reads back.
    iso = when.isoformat(timespec="seconds") + (f".{subsec}" if subsec else "")
    if zone is not None:
        iso += _iso_offset(zone)
    out["status"] = "ok"
    out["time"] = iso
    return out


def _moment(candidate: dict[str, object]) -> tuple[datetime, bool]:
    """The candidate's time and whether its zone is known."""
    text = str(candidate["time"]).replace("Z", "+00:00")
    when = datetime.fromisoformat(text)
    return when, when.tzinfo is not None


def capture_time(tags: dict[str, object], duration_s: float | None = None) -> tuple[dict[str, object], list[Flag]]:
    """Summary fields (``captured_at``, ``capture_time``, ``time_candidates``) and flags."""
    candidates: list[dict[str, object]] = []
    for spec, eligible in [*((s, True) for s in PRECEDENCE), *((s, False) for s in EVIDENCE_ONLY)]:
        raw = _gps_datetime(tags) if spec.tag == "GPS:GPSDateTime" else tags.get(spec.tag)
        if raw is None:
            continue
        candidates.append(_candidate(spec, raw, tags, eligible))
    summary: dict[str, object] = {}
    flags: list[Flag] = []
    if candidates:
        summary["time_candidates"] = candidates
    for candidate in candidates:
        if candidate["status"] == "placeholder":
            flags.append(
                make_flag(
                    FlagCode.TIME_PLACEHOLDER,
                    f"{candidate['tag']} holds {candidate['value']!r} ({candidate['reason']}): "
                    "not a time; never used as the capture time",
                )
            )
    winner = next((c for c in candidates if c["eligible"] and c["status"] == "ok"), None)
    if winner is None:
        return summary, flags
    summary["captured_at"] = winner["time"]
    summary["capture_time"] = {k: winner[k] for k in ("tag", "meaning", "zone") if k in winner}
    when, known = _moment(winner)
    if not known:
        summary["captured_at_zone"] = "unknown (local time of the device)"
    for other in candidates:
        if other is winner or other["status"] != "ok" or other["tag"] not in _COMPARED:
            continue
        then, other_known = _moment(other)
        if other_known != known:
            continue  # a local time of unknown zone cannot be compared with an absolute one
        spec = next(s for s in PRECEDENCE + EVIDENCE_ONLY if s.tag == other["tag"])
        allowed = TOLERANCE + (timedelta(seconds=duration_s) if spec.at_stop and duration_s else timedelta(0))
        gap = abs(then - when)
        if gap > allowed:
            flags.append(
                make_flag(
                    FlagCode.TIME_DISAGREEMENT,
                    f"{winner['tag']} says {winner['time']} but {other['tag']} says {other['time']} "
                    f"({_duration(gap)} apart, more than the {_duration(allowed)} allowed)",
                )
            )
    return summary, flags


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
