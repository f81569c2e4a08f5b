"""The one entry point ingest calls: everything the file says about itself, and which tool said it.

ExifTool reads the metadata of images and videos (capture times, place, device); Pillow (with
pillow-heif for HEIC) checks that an image decodes and hashes it; ffprobe gives a video's stream
facts and ffmpeg its frames for the hash; c2pa-python reads Content Credentials offline. Without
ExifTool nothing is guessed from another reader: the record says ``tool_missing``. Every problem
becomes a warning naming the evidence file (never custody's temp copy) and, where it matters, a
flag; nothing here raises for a hostile or broken file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import exiftool
from .capture import capture_time
from .content_credentials import library_version, read_content_credentials
from .flags import Flag, FlagCode, make_flag
from .image import decode_image, decoder_versions
from .place import device, place, rotation
from .similar import HashTimeout, video_hash
from .video import FFPROBE_TIMEOUT_S, ffprobe_version, probe_video

# Groups that describe custody's temp copy of the file (its name, folder, times), not the evidence.
_LOCAL_GROUPS = ("System:",)
_LOCAL_KEYS = {"SourceFile", "ExifTool:Warning", "ExifTool:Error"}
# Groups holding capture metadata: without any of them, an image's metadata is absent.
_IMAGE_METADATA_GROUPS = ("IFD0:", "ExifIFD:", "GPS:", "XMP-", "IPTC:", "Keys:", "MakerNotes:", "Apple:")


@dataclass
class Extraction:
    """Summary for the signed record, the complete raw dump, what could not be read, and its flags."""

    metadata: dict[str, Any]
    raw: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    tools: dict[str, str] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    # Summary fields read by another tool than the usual one (an image's size from ExifTool, say).
    field_tools: dict[str, str] = field(default_factory=dict)


def _scrub(text: str, path: Path, name: str) -> str:
    """A tool's message about our temp copy, rewritten to name the evidence file."""
    return text.replace(str(path), name).replace(path.name, name)


def _read_tags(path: Path, extraction: Extraction, name: str) -> dict[str, Any] | None:
    if exiftool.exiftool_path() is None:
        return None
    version = exiftool.exiftool_version() or "unknown"
    try:
        tags, messages = exiftool.read_tags(path)
    except exiftool.ExifToolTimeout as exc:
        extraction.warnings.append(f"{name}: {exc}")
        extraction.flags.append(make_flag(FlagCode.TOOL_TIMEOUT, f"ExifTool: {exc}; metadata not read"))
        return {}
    except (exiftool.ExifToolError, OSError) as exc:
        extraction.warnings.append(f"{name}: ExifTool could not read the file: {exc}")
        extraction.flags.append(make_flag(FlagCode.TOOL_ERROR, f"ExifTool could not read the file ({exc})"))
        return {}
    extraction.tools["ExifTool"] = version
    for key in ("ExifTool:Error", "ExifTool:Warning"):
        if tags.get(key):
            kind = key.split(":")[1].lower()
            extraction.warnings.append(f"{name}: ExifTool {kind}: {_scrub(str(tags[key]), path, name)}")
    for line in messages.splitlines():
        if line.strip():
            extraction.warnings.append(f"{name}: ExifTool: {_scrub(line.strip(), path, name)}")
    return tags


def _raw_tags(tags: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in tags.items() if k not in _LOCAL_KEYS and not k.startswith(_LOCAL_GROUPS)}


def _metadata_from_tags(tags: dict[str, Any], summary: dict[str, Any], extraction: Extraction) -> None:
    duration = summary.get("duration_seconds")
    times, time_flags = capture_time(tags, duration if isinstance(duration, int | float) else None)
    summary.update(times)
    extraction.flags.extend(time_flags)
    gps, gps_flags = place(tags)
    if gps is not None:
        summary["gps"] = gps
    extraction.flags.extend(gps_flags)
    found = device(tags)
    if found is not None:
        summary["device"] = found


def _image(path: Path, name: str, summary: dict[str, Any], extraction: Extraction, tags: dict[str, Any] | None) -> None:
    facts, problems = decode_image(path)
    versions = decoder_versions()
    extraction.tools["Pillow"] = versions["Pillow"]
    if facts.get("format") in {"HEIF", "HEIC", "AVIF"} and "pillow-heif" in versions:
        extraction.tools["pillow-heif"] = versions["pillow-heif"]
    extraction.warnings.extend(f"{name}: {_scrub(p, path, name)}" for p in problems)
    summary.update(facts)
    if facts.get("decode_skipped"):
        extraction.flags.append(
            make_flag(
                FlagCode.DECODE_SKIPPED,
                f"pixels not decoded ({facts['decode_skipped']}); no perceptual hash; "
                "metadata read with ExifTool; preserved as received",
            )
        )
    if tags:  # read (a failed or timed-out read is flagged, not taken for absent metadata)
        for key, tag in (("width", "File:ImageWidth"), ("height", "File:ImageHeight")):
            if summary.get(key) is None and isinstance(tags.get(tag), int):
                summary[key] = tags[tag]
                extraction.field_tools[key] = "ExifTool"
        if isinstance(tags.get("IFD0:Orientation"), int):
            summary["orientation"] = tags["IFD0:Orientation"]
        summary["has_exif"] = any(k.startswith(_IMAGE_METADATA_GROUPS) for k in tags)


def _video(path: Path, name: str, summary: dict[str, Any], extraction: Extraction) -> dict[str, Any]:
    facts, probe, problems, timed_out = probe_video(path)
    extraction.warnings.extend(f"{name}: {_scrub(p, path, name)}" for p in problems)
    if facts is None:
        missing = summary.get("tool_missing")
        summary["tool_missing"] = f"{missing}, ffprobe" if missing else "ffprobe"
        extraction.warnings.append(f"{name}: ffprobe is not installed (apt-get install ffmpeg); streams not read")
        return {}
    extraction.tools["ffprobe"] = ffprobe_version() or "unknown"
    summary.update(facts)
    if timed_out:
        extraction.flags.append(
            make_flag(FlagCode.TOOL_TIMEOUT, f"ffprobe did not finish within {FFPROBE_TIMEOUT_S:g} s; stopped")
        )
    elif not facts or problems:
        summary["decode_check"] = "failed"
    else:
        summary["decode_check"] = "complete"
        try:
            phash = video_hash(path)
        except HashTimeout as exc:
            extraction.warnings.append(f"{name}: {exc}")
            extraction.flags.append(make_flag(FlagCode.TOOL_TIMEOUT, f"{exc}; no perceptual hash"))
        else:
            if phash:
                summary["phash"] = phash
    return probe


def extract(path: Path, media_type: str, name: str | None = None) -> Extraction:
    """Read metadata without modifying the file; never raises for a corrupt or hostile file.

    ``path`` may be custody's temp copy; ``name`` is the evidence file's name for messages.
    """
    name = name or path.name
    kind = media_type.split("/")[0] if media_type.startswith(("image/", "video/")) else "other"
    summary: dict[str, Any] = {"kind": kind}
    extraction = Extraction(summary, {})
    tags: dict[str, Any] | None = None
    if kind != "other":
        tags = _read_tags(path, extraction, name)
        if tags is None:
            summary["tool_missing"] = "exiftool"
            extraction.warnings.append(
                f"{name}: exiftool is not installed (apt-get install libimage-exiftool-perl); metadata not read"
            )
        else:
            extraction.raw["exiftool"] = _raw_tags(tags)
    if kind == "image":
        _image(path, name, summary, extraction, tags)
    elif kind == "video":
        probe = _video(path, name, summary, extraction)
        if probe:
            extraction.raw["ffprobe"] = probe
        if tags:
            turned = rotation(tags)
            if turned is not None:
                summary["rotation"] = turned
    if tags:
        _metadata_from_tags(tags, summary, extraction)
        if kind == "video":
            summary["has_capture_metadata"] = "captured_at" in summary or "gps" in summary
    remote = str(tags["XMP-dcterms:Provenance"]) if tags and tags.get("XMP-dcterms:Provenance") else None
    credentials, store = read_content_credentials(path, media_type, remote)
    if credentials is not None:
        summary["content_credentials"] = credentials
        extraction.tools["c2pa-python"] = library_version() or "missing"
        if store:
            extraction.raw["c2pa"] = store
    if extraction.tools:
        summary["tools"] = dict(extraction.tools)
    summary["read_by"] = _read_by(summary, extraction.tools, extraction.field_tools)
    return extraction


# Which tool produced each summary field, so an expert can reproduce it.
_FIELD_TOOLS = {
    "captured_at": "ExifTool",
    "capture_time": "ExifTool",
    "time_candidates": "ExifTool",
    "gps": "ExifTool",
    "device": "ExifTool",
    "rotation": "ExifTool",
    "orientation": "ExifTool",
    "has_exif": "ExifTool",
    "container": "ffprobe",
    "duration_seconds": "ffprobe",
    "frame_rate": "ffprobe",
    "codecs": "ffprobe",
    "content_credentials": "c2pa-python",
}


def _read_by(summary: dict[str, Any], tools: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    kind = summary.get("kind")
    pixel_tool = "Pillow" if kind == "image" else "ffprobe"
    by: dict[str, str] = {}
    for key in summary:
        tool = _FIELD_TOOLS.get(key)
        if key in {"format", "width", "height", "decode_check"}:
            tool = pixel_tool
        if key == "phash":
            tool = "Pillow" if kind == "image" else "ffmpeg"
        tool = overrides.get(key, tool)
        if tool is None:
            continue
        version = tools.get(tool)
        if tool == "Pillow" and summary.get("format") in {"HEIF", "HEIC"} and "pillow-heif" in tools:
            version = f"{tools['Pillow']} with pillow-heif {tools['pillow-heif']}"
        if tool == "ffmpeg":
            version = tools.get("ffprobe")
        by[key] = f"{tool} {version}" if version else tool
    return by
