"""Where things live in a blob store: the one digest layout, and the private temp files of writers.

A blob is stored under ``sha256/ab/cd/<64 hex digits>`` (the first two and next two hex digits of its
SHA-256 as folders), below a local store's folder or an S3 bucket's prefix alike. A writer's bytes wait in
``<prefix><pid>-<random>.part`` until commit; a killed process leaves its file behind, which the next store
opened on that folder removes (it never became a blob).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

from ..errors import StoreError

FOLDER = "sha256"
DIGEST = re.compile(r"[0-9a-f]{64}")


def is_digest(text: str) -> bool:
    """True if ``text`` is a lowercase hex SHA-256 digest."""
    return DIGEST.fullmatch(text) is not None


def blob_key(sha256_hex: str) -> str:
    """The relative key of a blob: ``sha256/ab/cd/<digest>``.

    Raises:
        StoreError: ``sha256_hex`` is not a lowercase hex SHA-256 digest.
    """
    if not is_digest(sha256_hex):
        raise StoreError(f"'{sha256_hex}' is not a SHA-256 digest")
    return f"{FOLDER}/{sha256_hex[:2]}/{sha256_hex[2:4]}/{sha256_hex}"


def scan(root: Path) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Each entry of the digest folders (``sha256/ab/cd/``) below a local store's ``root``, with the key it stands at.

    Folders are not entered through links; nothing is yielded when ``root`` has no ``sha256`` folder. The
    caller decides which entries are blobs (a name that is a digest, at the key :func:`blob_key` gives it).

    Raises:
        OSError: a folder cannot be read.
    """
    top = root / FOLDER
    if not top.is_dir():
        return
    for first in os.scandir(top):
        if not first.is_dir(follow_symlinks=False):
            continue
        for second in os.scandir(first.path):
            if not second.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(second.path):
                yield f"{FOLDER}/{first.name}/{second.name}/{entry.name}", entry


def temp_name(prefix: str = "") -> str:
    """A fresh name for a writer's private temp file: ``<prefix><pid>-<random>.part``."""
    return f"{prefix}{os.getpid()}-{secrets.token_hex(8)}.part"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: Path, prefix: str = "") -> None:
    """Remove the temp files (:func:`temp_name`) in ``folder`` whose writing process is gone; never raises."""
    try:
        parts = list(folder.glob(f"{prefix}*.part"))
    except OSError:
        return
    for part in parts:
        pid_text = part.name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            part.unlink(missing_ok=True)
