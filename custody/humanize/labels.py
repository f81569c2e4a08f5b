"""Headings for people: what each flag code and each provenance field is called."""

from __future__ import annotations

from collections.abc import Mapping

from .values import text

# What each flag code means, as a heading for its message.
FLAG_WORDS: dict[str, str] = {
    "metadata_absent": "Metadata missing",
    "tool_missing": "Metadata not read",
    "c2pa_not_read": "Content Credentials not read",
    "c2pa_invalid": "Content Credentials do not validate",
    "corrupt": "File damaged",
    "extension_mismatch": "Name does not match content",
    "capture_after_ingest": "Capture time after ingest",
    "capture_after_collection": "Capture time after collection",
    "fs_time_far": "File time far from capture time",
}

# Each provenance field as the report and the CLI label it.
PROVENANCE_LABELS: dict[str, str] = {
    "case": "Case",
    "source_url": "Source URL",
    "platform": "Platform",
    "uploader": "Posted by (account)",
    "posted_at": "Posted at",
    "title": "Title of the post",
    "description": "Text of the post",
    "language": "Language",
    "collected_by": "Collected by",
    "collected_from": "Handed over by",
    "collected_at": "Collected at",
    "method": "How it was collected",
    "capture_device": "Capture device (as stated)",
    "note": "Note",
}
# The provenance fields that hold a time as the archivist stated it (shown with their own offset).
TIME_FIELDS = frozenset({"collected_at", "posted_at"})


def flag(value: object) -> tuple[str, str]:
    """A flag as (heading, explanation) in plain words."""
    if isinstance(value, Mapping):
        code = str(value.get("code") or "")
        return FLAG_WORDS.get(code, code.replace("_", " ").capitalize() or "Flag"), text(value.get("message"))
    return "Flag", text(value)
