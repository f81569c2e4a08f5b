"""Sources of an ingest: the paths given, checked up front (a bad one aborts the batch), and opened safely.

CSV manifests of paths with provenance are read by custody.ingest.manifests.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .. import own_files
from ..config import ArchiveConfig
from ..errors import InputError


@dataclass(frozen=True)
class Source:
    """One file to ingest, already checked to be a readable regular file."""

    path: Path
    follow_symlinks: bool
    # (device, inode) of the file every check ran on: the file opened later must be that file (None: not pinned).
    identity: tuple[int, int] | None = None


def _inside(path: Path, tree: Path) -> bool:
    return path == tree or tree in path.parents


def _check_file(path: Path, tree: Path, follow: bool) -> Source:
    if path.is_symlink():
        if not follow:
            raise InputError(f"{path}: is a symbolic link; pass --follow-symlinks to ingest its target")
        target = path.resolve()
        if not _inside(target, tree.resolve()):
            raise InputError(f"{path}: symbolic link points outside {tree} (to {target}); refused")
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; check the path") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file (device, socket or pipe); refused")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied; make it readable for this user")
    return Source(path, follow, (st.st_dev, st.st_ino))


def collect(paths: Iterable[Path], recursive: bool, follow_symlinks: bool) -> list[Source]:
    """Check every path before anything is ingested, so a bad one aborts the whole batch."""
    sources: list[Source] = []
    for given in paths:
        if given.is_symlink() or not given.is_dir():
            if not given.exists() and not given.is_symlink():
                raise InputError(f"{given}: no such file or folder; check the path")
            sources.append(_check_file(given, given.parent, follow_symlinks))
            continue
        if not recursive:
            raise InputError(f"{given}: is a folder; pass --recursive to ingest everything in it")
        for dirpath, dirnames, filenames in os.walk(given, followlinks=False):
            dirnames.sort()
            for name in [*sorted(filenames), *[d for d in dirnames if (Path(dirpath) / d).is_symlink()]]:
                candidate = Path(dirpath) / name
                if candidate.is_symlink() and candidate.resolve().is_dir():
                    raise InputError(f"{candidate}: symbolic link to a folder; refused")
                sources.append(_check_file(candidate, given, follow_symlinks))
    return sources


def _archive_places(cfg: ArchiveConfig) -> tuple[dict[own_files.Identity, str], set[own_files.Identity]]:
    """By identity (custody.own_files): the archive's folders (its own; a local store, also one configured
    elsewhere), each with how to name it, and its own files (the configuration, the files in its folder and in its
    keys folder, the SQLite catalog with its journal, wherever the catalog lies)."""
    folders: dict[own_files.Identity, str] = {}
    places = [(cfg.root, "the archive folder")]
    if (store := own_files.local_store(cfg)) is not None:
        places.append((store, "the archive's store"))
    for place, name in places:
        found = own_files.identity(place)
        if found is not None:
            folders.setdefault(found, f"{name} {place.resolve()}")
    candidates = [cfg.root / name for name in os.listdir(cfg.root)] if cfg.root.is_dir() else []
    if cfg.keys_dir.is_dir():
        candidates += [cfg.keys_dir / name for name in os.listdir(cfg.keys_dir)]
    return folders, own_files.identities([*candidates, *own_files.catalog_files(cfg)])


def refuse_archive_files(sources: Iterable[Source], cfg: ArchiveConfig) -> None:
    """Refuse the archive's own files (catalog, keys, store, configuration) before anything is stored.

    'ingest -r .' in a folder holding the archive would otherwise take the catalog and the actors' key files in
    as evidence, and out again with the next export. Files and folders are compared by identity (device and inode),
    not by name: a symbolic link, a hard link to a key file, a bind mount or another spelling of the archive's
    folder on a case-insensitive disk names the same file, and a store or SQLite catalog configured outside the
    archive folder is the archive's as much as one inside it.
    """
    folders, files = _archive_places(cfg)
    seen: dict[Path, str | None] = {}

    def archive_folder_of(folder: Path) -> str | None:
        # The archive folder that ``folder`` is, or lies in (None: neither), remembered per folder on the way up.
        chain: list[Path] = []
        found: str | None = None
        for step in (folder, *folder.parents):
            if step in seen:
                found = seen[step]
                break
            chain.append(step)
            identity = own_files.identity(step)
            if identity is not None and identity in folders:
                found = folders[identity]
                break
        for step in chain:
            seen[step] = found
        return found

    inside: list[tuple[Path, str | None]] = []
    for source in sources:
        real = Path(os.path.realpath(source.path))
        place = archive_folder_of(real.parent)
        if place is not None or own_files.identity(real) in files:
            inside.append((source.path, place))
    if inside:
        path, place = inside[0]
        more = f" (and {len(inside) - 1} more of its files)" if len(inside) > 1 else ""
        where = f"is inside {place}" if place is not None else "is one of the archive's own files"
        raise InputError(
            f"{path}: {where}{more}; custody never ingests its own catalog, keys or store: name the evidence files "
            "or folder instead"
        )


def open_checked(source: Source) -> int:
    """Open a checked file for reading; refuses one that stopped being a regular file since.

    O_NONBLOCK: opening a FIFO put in the file's place would otherwise wait for a writer for ever.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if source.follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(source.path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"{source.path}: is a symbolic link; pass --follow-symlinks") from None
        raise InputError(f"{source.path}: cannot read ({exc.strerror})") from None
    opened = os.fstat(fd)
    if not stat.S_ISREG(opened.st_mode):
        os.close(fd)
        raise InputError(
            f"{source.path}: is no longer a regular file (replaced by a pipe, device or socket after it was "
            "checked); refused"
        )
    if source.identity is not None and (opened.st_dev, opened.st_ino) != source.identity:
        # Replaced between the checks and this read (a large batch opens its last files minutes later): a link to a
        # key file or to a file outside the tree put in its place must not be read as the evidence checked.
        os.close(fd)
        raise InputError(f"{source.path}: changed after it was checked (another file is in its place); refused")
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return fd


def display_name(name: str) -> tuple[str, str | None]:
    """A name as text for records and people, and its exact bytes (base64) when it is not UTF-8.

    Names arrive from the file system as bytes; one that is not valid UTF-8 reaches Python with
    lone surrogates, which no JSON can carry. Its display form escapes the odd bytes (``\\xe9``);
    the base64 of the bytes keeps it losslessly.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(name)
        return raw.decode("utf-8", "backslashreplace"), base64.b64encode(raw).decode("ascii")
    return name, None
