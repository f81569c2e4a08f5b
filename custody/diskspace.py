"""Full disks: notice blobs already stored before copying, find complete blobs no record accounts for,
say exactly what an interrupted ingest did and did not store, and turn a full catalog into one line.

An ingest that runs out of space after storing some files of a batch leaves those blobs complete
(content-addressed, read-only) but unrecorded: the batch's records and events are written in one
transaction after its blobs. A re-run records them; on a store that is still (nearly) full it must
not need space to do so, so when the store's file system has less free space than a file's size,
ingest first hashes the file without copying it and, when the store already holds those bytes,
records the stored blob as is.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .checks import CheckKind, Report
from .db.models import Event, Item
from .store import layout
from .store.base import BlobStore
from .store.local import LocalBlobStore

MARGIN = 4 * 1024 * 1024
"""Free space kept in reserve: below a file's size plus this, ingest hashes before copying."""

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

_HEX = re.compile(r"^[0-9a-f]{64}$")
_REFERENCE = re.compile(r'"(?:raw_sha256|values_sha256)":"([0-9a-f]{64})"')
_SHOWN = 20
VALUE_ACTIONS = ("acquire", "correct")
"""Events whose payload commits to a stored withheld-values blob (an acquisition, a provenance correction)."""


def free_bytes(store: BlobStore) -> int | None:
    """Free space for blobs on a local store's file system; None for stores without one (S3)."""
    if not isinstance(store, LocalBlobStore):
        return None
    try:
        stat = os.statvfs(store.root)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def low_on_space(store: BlobStore, size: int) -> bool:
    """True when storing ``size`` more bytes might not fit: hash first, copy only bytes not yet stored."""
    free = free_bytes(store)
    return free is not None and free < size + MARGIN


def is_full(exc: OSError) -> bool:
    """The error says the file system (or quota) is full."""
    return exc.errno in FULL_ERRNOS


def local_blob_path(store: BlobStore, sha256_hex: str) -> Path | None:
    """The stored blob's own path, when the store is local and holds it."""
    if isinstance(store, LocalBlobStore):
        path = store.path_for(sha256_hex)
        if path.is_file():
            return path
    return None


# --- what an interrupted ingest stored -------------------------------------------------------------


def outcome(
    cause: str, recorded: int, stored: Sequence[Path], not_stored: Sequence[Path], not_stored_more: int = 0
) -> str:
    """One line saying what was recorded, what was stored but not recorded, and what was not stored."""
    parts = [cause.rstrip(".")]
    parts.append(f"{recorded} file(s) of this ingest were recorded" if recorded else "nothing was recorded")
    if stored:
        names = ", ".join(str(p) for p in stored[:5]) + (f" and {len(stored) - 5} more" if len(stored) > 5 else "")
        parts.append(
            f"{len(stored)} file(s) were stored completely but not recorded ({names}): ingest them again to "
            "record them (their bytes are not copied again)"
        )
    count = len(not_stored) + not_stored_more
    if count:
        names = ", ".join(str(p) for p in not_stored[:3]) + (" …" if count > 3 else "")
        parts.append(f"{count} file(s) were not stored ({names})")
    return "; ".join(parts)


# --- blobs no record accounts for ---------------------------------------------------------------


def _store_digests(store: LocalBlobStore) -> Iterable[str]:
    return (entry.name for _key, entry in layout.scan(store.root) if _HEX.match(entry.name))


def referenced(session: Session) -> set[str]:
    """Every blob the catalog accounts for: items' bytes, their metadata dumps and withheld values."""
    found = set(session.scalars(select(Item.sha256)))
    for (record,) in session.execute(select(Item.record).execution_options(yield_per=5000)):
        found.update(_REFERENCE.findall(record))
    rows = session.execute(
        select(Event.payload).where(Event.action.in_(VALUE_ACTIONS)).execution_options(yield_per=5000)
    )
    for (payload,) in rows:
        found.update(_REFERENCE.findall(payload))
    return found


STATUS_SCAN_LIMIT = 200_000
"""``status`` lists the store against the catalog up to this many items (beyond, ``verify --all`` does)."""


@dataclass(frozen=True)
class Unrecorded:
    """Complete blobs in the store that no record or event accounts for."""

    digests: list[str]
    checked: bool  # False for stores that cannot be listed here (S3), or too large for status
    why_not: str = "the store is not a local folder"

    def describe(self) -> str:
        if not self.checked:
            return f"not checked ({self.why_not})"
        if not self.digests:
            return "none"
        shown = ", ".join(d[:16] + "…" for d in self.digests[:3])
        return (
            f"{len(self.digests)} complete blob(s) stored but not recorded ({shown}), left by an interrupted "
            "ingest: run it again to record them"
        )


def unrecorded(session: Session, store: BlobStore, limit: int | None = None) -> Unrecorded:
    """Blobs stored completely that no item record, metadata dump or withheld-values commitment names.

    With ``limit``, a catalog of more items than that is not listed (status stays quick).
    """
    if not isinstance(store, LocalBlobStore):
        return Unrecorded([], False)
    if limit is not None:
        items = session.scalar(select(func.count()).select_from(Item)) or 0
        if items > limit:
            return Unrecorded([], False, f"{items} items: 'custody verify --all' lists them")
    known = referenced(session)
    return Unrecorded(sorted(d for d in _store_digests(store) if d not in known), True)


def check_unrecorded(session: Session, store: BlobStore, report: Report) -> None:
    """A warning per complete unrecorded blob (verify --all): evidence that was stored but never logged."""
    found = unrecorded(session, store)
    if not found.checked:
        return
    for digest in found.digests[:_SHOWN]:
        report.add(
            CheckKind.UNRECORDED_BLOB,
            f"blob {digest}",
            True,
            "stored completely, but no record or event accounts for it (an ingest was interrupted, e.g. by a "
            "full disk): run the ingest again to record it",
            warning=True,
        )
    if len(found.digests) > _SHOWN:
        report.add(CheckKind.UNRECORDED_BLOB, "store", True, found.describe(), warning=True)
