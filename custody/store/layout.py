"""Where things live in a blob store: the one digest layout, and the private temp files of writers.

A blob is stored under ``sha256/ab/cd/<64 hex digits>`` (the first two and next two hex digits of its
SHA-256 as folders), below a local store's folder or an S3 bucket's prefix alike. A writer's bytes wait in
``<prefix><pid>-<random>.part`` until commit; a killed process leaves its file behind, which the next store
opened on that folder removes (it never became a blob).
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
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


def open_blob(root: Path, sha256_hex: str) -> int:
    """A read-only file descriptor of the blob ``sha256_hex`` below a local store's ``root``.

    Never through a symbolic link, at the blob or at any folder of its key (a link there would let a good copy
    elsewhere stand in for the blob), and only a regular file: a FIFO or device put in its place would make a
    reader wait forever or read without end. ``root`` itself may be a link (where the configuration puts the
    store). Each folder is opened relative to the one above, so a link swapped in meanwhile is refused too.

    Raises:
        StoreError: the blob is missing, is (or lies below) a symbolic link, is not a regular file, or cannot be read.
    """
    parts = blob_key(sha256_hex).split("/")
    # O_PATH: passing through a folder needs only its search permission, as a path lookup does.
    as_folder = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY
    folder: int | None = None
    try:
        folder = os.open(root, as_folder)
        for name in parts[:-1]:
            below = os.open(name, as_folder | os.O_NOFOLLOW, dir_fd=folder)
            os.close(folder)
            folder = below
        fd = open_regular(parts[-1], dir_fd=folder)
    except FileNotFoundError:
        raise StoreError(f"blob {sha256_hex} is missing from the store at {root}") from None
    except OSError as exc:
        # ELOOP: the blob is a link; ENOTDIR: a folder of its key is a link (opened as itself, not followed) or
        # not a folder at all.
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise StoreError(
                f"blob {sha256_hex} in the store at {root} is not the stored file: it, or a folder of its path, "
                "is a symbolic link (or not a folder)"
            ) from None
        raise StoreError(f"cannot read blob {sha256_hex}: {exc.strerror}") from None
    finally:
        if folder is not None:
            os.close(folder)
    if fd is None:
        raise StoreError(f"blob {sha256_hex} in the store at {root} is not a regular file")
    return fd


def open_regular(path: str | Path, dir_fd: int | None = None) -> int | None:
    """A blocking read-only descriptor of the regular file at ``path`` (not followed if it is a symbolic link:
    OSError ELOOP), or None, with nothing left open, if it is anything else (a FIFO, a device, a folder).

    O_NONBLOCK while opening: a FIFO opens at once, to be refused, rather than waiting for a writer for ever.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def scan(root: Path) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Each entry of the digest folders (``sha256/ab/cd/``) below a local store's ``root``, with the key it stands at.

    Folders are not entered through links; nothing is yielded when ``root`` has no ``sha256`` folder. The
    caller decides which entries are blobs (a name that is a digest, at the key :func:`blob_key` gives it).

    Raises:
        OSError: a folder cannot be read.
    """
    top = root / FOLDER
    # Not through a link either: the blobs below one are not the store's (custody.store.layout.open_blob).
    if top.is_symlink() or not top.is_dir():
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
