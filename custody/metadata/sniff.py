"""Media type from content, never from the file name."""

from __future__ import annotations

import mimetypes
from pathlib import PurePath

import filetype

# Types whose usual extensions we know, for spotting a JPEG that calls itself .mp4.
_EXTENSIONS = {
    "image/jpeg": {".jpg", ".jpeg", ".jpe", ".jfif"},
    "image/png": {".png"},
    "image/gif": {".gif"},
    "image/webp": {".webp"},
    "image/tiff": {".tif", ".tiff"},
    "image/heic": {".heic", ".heif"},
    "image/heif": {".heic", ".heif"},
    "video/mp4": {".mp4", ".m4v"},
    "video/quicktime": {".mov", ".qt"},
    "video/x-matroska": {".mkv"},
    "video/webm": {".webm"},
    "video/3gpp": {".3gp"},
    "audio/mpeg": {".mp3"},
    "application/pdf": {".pdf"},
    "application/zip": {".zip"},
}


def sniff_media_type(head: bytes, name: str | None = None) -> str:
    """Media type from the first bytes of a file (``name`` is ignored on purpose)."""
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    if not head:
        return "application/octet-stream"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The head may end in the middle of a multi-byte character.
        if exc.start < len(head) - 3:
            return "application/octet-stream"
    if any(b < 0x09 or 0x0D < b < 0x20 for b in head if b != 0x1B):
        return "application/octet-stream"
    return "text/plain"


_UNRECOGNISED = {"application/octet-stream", "text/plain"}


def _claims_a_format(suffix: str) -> str | None:
    """The media type an extension claims when content sniffing would have recognised it."""
    for media_type, suffixes in _EXTENSIONS.items():
        if suffix in suffixes:
            return media_type
    guessed = mimetypes.guess_type(f"x{suffix}")[0]
    # Text-based formats (SVG, playlists) are legitimately plain text.
    if guessed and guessed.startswith(("image/", "video/", "audio/")) and not guessed.endswith(("+xml", "mpegurl")):
        return guessed
    return None


def extension_mismatch(media_type: str, name: str) -> str | None:
    """A sentence when the file name's extension contradicts its content, else None.

    Whatever the content: media under another media's name, and text or unrecognised bytes under
    the name of a format that sniffing recognises (a text file named .jpg, random bytes named .MOV).
    """
    suffix = PurePath(name).suffix.lower()
    if not suffix:
        return None
    if media_type in _UNRECOGNISED:
        claimed_format = _claims_a_format(suffix)
        if claimed_format is None:
            return None
        what = "text" if media_type == "text/plain" else "not a recognised format"
        return f"named {suffix} (suggesting {claimed_format}) but the content is {what} ({media_type})"
    expected = _EXTENSIONS.get(media_type)
    if expected is not None:
        if suffix in expected:
            return None
    else:
        guessed = mimetypes.guess_type(f"x{suffix}")[0]
        if guessed is None or guessed == media_type:
            return None
    claimed = mimetypes.guess_type(f"x{suffix}")[0] or f"a {suffix} file"
    if claimed == media_type:
        return None
    return f"named {suffix} (suggesting {claimed}) but the content is {media_type}"
