"""The one entry point ingest calls: everything the file says about itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import PIL

from .content_credentials import library_version, read_content_credentials
from .image import extract_image
from .similar import perceptual_hash
from .video import extract_video, ffprobe_version


@dataclass
class Extraction:
    """Summary for the signed record, the complete raw dump, and what could not be read."""

    metadata: dict[str, Any]
    raw: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    tools: dict[str, str] = field(default_factory=dict)


def extract(path: Path, media_type: str) -> Extraction:
    """Read metadata without modifying the file; never raises for a corrupt file."""
    if media_type.startswith("image/"):
        summary, raw, warnings = extract_image(path)
        tools = {"Pillow": PIL.__version__}
    elif media_type.startswith("video/"):
        summary, raw, warnings = extract_video(path)
        tools = {"ffprobe": ffprobe_version() or "missing"}
    else:
        summary, raw, warnings, tools = {"kind": "other"}, {}, [], {}
    if summary["kind"] != "other":
        phash = perceptual_hash(path, media_type) if not summary.get("tool_missing") else None
        if phash:
            summary["phash"] = phash
    credentials, store = read_content_credentials(path, media_type)
    if credentials is not None:
        summary["content_credentials"] = credentials
        tools["c2pa-python"] = library_version() or "missing"
        if store:
            raw = {**raw, "c2pa": store}
    if tools:
        summary["tools"] = tools
    return Extraction(summary, raw, warnings, tools)
