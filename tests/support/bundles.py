"""Helpers to take bundle zips apart and put them back together, as a forger would."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path


def members(path: Path) -> dict[str, bytes]:
    """Every entry of a zip, by name, in order."""
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def rewrite(src: Path, dst: Path, change: Callable[[dict[str, bytes]], dict[str, bytes]]) -> Path:
    """Write ``dst`` with the entries of ``src`` after ``change``."""
    entries = change(members(src))
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return dst


def root(entries: dict[str, bytes]) -> str:
    return next(iter(entries)).split("/", 1)[0]


def retag(entries: dict[str, bytes]) -> dict[str, bytes]:
    """Recompute the tag manifest after an edit (the seal then no longer matches)."""
    top = root(entries)
    name = f"{top}/tagmanifest-sha256.txt"
    lines = []
    for line in entries[name].decode().splitlines():
        _digest, path = line.split(maxsplit=1)
        lines.append(f"{hashlib.sha256(entries[f'{top}/{path}']).hexdigest()}  {path}\n")
    return {**entries, name: "".join(lines).encode()}
