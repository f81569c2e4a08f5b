"""Opening an untrusted bundle zip: every entry is checked before any byte is used."""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..errors import BundleError, InputError

MAX_TOTAL_BYTES = 256 * 1024**3
MAX_FILE_BYTES = 64 * 1024**3
MAX_RATIO = 100  # uncompressed / compressed, above 1 MiB: evidence is rarely that compressible
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class Limits:
    """Decompression-bomb limits for one bundle."""

    total_bytes: int = MAX_TOTAL_BYTES
    file_bytes: int = MAX_FILE_BYTES
    ratio: int = MAX_RATIO
    entries: int = MAX_ENTRIES


class SafeBundle:
    """A zip whose entries are all regular files under one top-level folder, checked up front."""

    def __init__(self, path: Path, zf: zipfile.ZipFile, root: str, files: dict[str, zipfile.ZipInfo]) -> None:
        self.path = path  # the file as the user named it, for messages (not necessarily the zip read)
        self._zf = zf
        self.root = root
        self.files = files  # path relative to the bag folder -> entry

    def has(self, name: str) -> bool:
        return name in self.files

    def open(self, name: str) -> BinaryIO:
        """Stream one checked entry."""
        try:
            info = self.files[name]
        except KeyError:
            raise BundleError(f"{self.path}: {name} is missing from the bundle") from None
        return self._zf.open(info)  # type: ignore[return-value]

    def read(self, name: str, limit: int = 64 * 1024**2) -> bytes:
        """Read a small tag file whole (bounded)."""
        if name in self.files and self.files[name].file_size > limit:
            raise BundleError(f"{self.path}: {name} is larger than a tag file may be")
        with self.open(name) as fh:
            try:
                return fh.read()
            except (zipfile.BadZipFile, OSError) as exc:
                raise BundleError(f"{self.path}: {name} is corrupt ({exc})") from None

    def read_text(self, name: str) -> str:
        try:
            return self.read(name).decode("utf-8")
        except UnicodeDecodeError:
            raise BundleError(f"{self.path}: {name} is not UTF-8 text") from None


def _check_name(bundle: Path, name: str) -> PurePosixPath:
    if "\\" in name or "\x00" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise BundleError(f"{bundle}: entry '{name}' has an absolute or unsafe path; refused")
    parts = PurePosixPath(name).parts
    if any(part in {"..", "."} for part in parts) or not parts:
        raise BundleError(f"{bundle}: entry '{name}' escapes the bundle folder (path traversal); refused")
    return PurePosixPath(name)


def _check_type(bundle: Path, info: zipfile.ZipInfo) -> bool:
    """True for a folder entry, False for a regular file; refuse anything else."""
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_IFMT(mode):  # Unix file type bits are present
        if stat.S_ISLNK(mode):
            raise BundleError(f"{bundle}: entry '{info.filename}' is a symbolic link; refused")
        if stat.S_ISDIR(mode):
            return True
        if not stat.S_ISREG(mode):
            raise BundleError(f"{bundle}: entry '{info.filename}' is a special file; refused")
    return info.filename.endswith("/")


@contextmanager
def open_bundle(path: Path, limits: Limits = Limits(), *, shown: Path | None = None) -> Iterator[SafeBundle]:
    """Open and vet a bundle zip; BundleError naming the file and the entry on anything hostile.

    ``shown`` is the file the user named when ``path`` is custody's private copy of it (decrypted, or copied
    for import): messages name the user's file, never a temp path they have never seen.
    """
    name = shown if shown is not None else path
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file; check the path") from None
    except zipfile.BadZipFile:
        raise BundleError(f"{name}: not a zip file, or truncated; ask the sender for the file again") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror})") from None
    try:
        infos = zf.infolist()
        if len(infos) > limits.entries:
            raise BundleError(f"{name}: {len(infos)} entries is more than a bundle may hold; refused")
        seen: set[str] = set()
        files: dict[str, zipfile.ZipInfo] = {}
        roots: set[str] = set()
        total = 0
        for info in infos:
            pure = _check_name(name, info.filename)
            key = str(pure)
            if key in seen:
                raise BundleError(f"{name}: entry '{key}' appears twice; refused")
            seen.add(key)
            roots.add(pure.parts[0])
            if _check_type(name, info):
                continue
            if len(pure.parts) < 2:
                raise BundleError(f"{name}: entry '{key}' lies outside the bundle folder; refused")
            if info.file_size > limits.file_bytes:
                raise BundleError(f"{name}: entry '{key}' expands to {info.file_size} bytes; refused")
            compressed = max(info.compress_size, 1)
            if info.file_size > 1024**2 and info.file_size / compressed > limits.ratio:
                raise BundleError(
                    f"{name}: entry '{key}' expands {info.file_size // compressed}x (decompression bomb); refused"
                )
            total += info.file_size
            if total > limits.total_bytes:
                raise BundleError(f"{name}: entries expand to more than {limits.total_bytes} bytes; refused")
            files[str(PurePosixPath(*pure.parts[1:]))] = info
        if len(roots) != 1:
            raise BundleError(f"{name}: a bundle unpacks to exactly one folder, this one to {len(roots)}; refused")
        yield SafeBundle(name, zf, roots.pop(), files)
    finally:
        zf.close()
