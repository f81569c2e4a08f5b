"""What the archive itself keeps on disk, by identity (device and inode), for commands that must never read it in as
evidence (ingest) or write over it (``verify --save-checkpoint``).

Compared by identity, not by name: a symbolic link, a hard link, a bind mount or another spelling of a path on a
case-insensitive disk names the same file, and a store or SQLite catalog configured outside the archive folder is the
archive's as much as one inside it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import CONFIG_NAME, ArchiveConfig

Identity = tuple[int, int]


def identity(path: Path) -> Identity | None:
    """(device, inode) of what ``path`` names (links followed), or None if it cannot be found."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def local_store(cfg: ArchiveConfig) -> Path | None:
    """The folder of a local (``file:``) store, wherever it is configured; None for an object store."""
    if not cfg.store_url.startswith("file:"):
        return None
    store = Path(cfg.store_url[len("file:") :])
    return store if store.is_absolute() else cfg.root / store


def catalog_files(cfg: ArchiveConfig) -> list[Path]:
    """The configuration file and, for SQLite, the catalog with its journal files (WAL, shared memory, rollback)."""
    files = [cfg.root / CONFIG_NAME]
    url = cfg.resolved_db_url()
    if url.startswith("sqlite:///"):
        catalog = Path(url[len("sqlite:///") :])
        files += [catalog.with_name(catalog.name + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
    return files


def identities(paths: list[Path]) -> set[Identity]:
    """The identities of those of ``paths`` that exist."""
    return {found for path in paths if (found := identity(path)) is not None}
