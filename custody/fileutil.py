"""Files written whole: a reader sees the old content or the new, never a part."""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write(path: Path, data: bytes, *, mode: int = 0o666, durable: bool = False) -> None:
    """Replace ``path`` with ``data`` at once, through a temp file of its own beside it.

    ``mode`` is the new file's permission bits before the umask (0o600: private); ``durable`` flushes the
    bytes to disk before the rename. Two processes writing the same path never share a temp file.

    Raises:
        OSError: the folder cannot be written; nothing is left behind and ``path`` is unchanged.
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fsync_dir(path: Path) -> None:
    """Make the entries of folder ``path`` (a rename, a new file) durable.

    Raises:
        OSError: the folder cannot be opened or flushed.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
