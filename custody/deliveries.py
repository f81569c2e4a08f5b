"""Deliveries in progress (``get``, ``export``, ``import``): a journal in the archive folder, swept by the next one.

While a command writes evidence to a temp file outside the store, it keeps a journal entry
(``pending/<kind>-<pid>-<token>.json``: the temp path, the final path, the bundle id) locked
with ``flock``. A process killed half-way leaves its entry unlocked; the next ``get``, ``export``
or ``import`` removes the temp file or folder it names and, for an export whose event was logged
but whose bundle never arrived, logs ``export.failed``. A lock, not a pid, tells live from dead:
pids are reused.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from .archive import Acting, Archive
from .canonical import parse
from .db.models import Event
from .fileutil import fsync_dir
from .roles import Permission, allows
from .timeutil import iso, utc_now

JOURNAL_DIR = "pending"
PRIVATE_DIR = "tmp"
"""Folder in the archive (mode 0700) where a bundle being imported is decrypted or copied."""
IMPORT_PREFIX = "custody-import-"
_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{8}\.part", re.DOTALL)


def temp_beside(out: Path) -> Path:
    """The private temp file a delivery to ``out`` writes first: ``.<name>.<8 hex>.part`` beside it."""
    return out.with_name(f".{out.name}.{secrets.token_hex(4)}.part")


def _folder(archive: Archive) -> Path:
    folder = archive.config.root / JOURNAL_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


@contextmanager
def delivering(acting: Acting, kind: str, temp: Path, out: Path, **details: Any) -> Iterator[None]:
    """Journal one delivery while the block runs; the entry is removed when the block completes.

    ``temp`` is the private file being written, ``out`` where it goes once its event is committed.
    When the block raises, the entry stays (unlocked) for the next sweep to settle.
    """
    folder = _folder(acting.archive)
    entry = folder / f"{kind}-{os.getpid()}-{secrets.token_hex(4)}.json"
    # Written and locked under another name first, so a sweep never sees an entry not yet locked.
    draft = entry.with_suffix(".new")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        record = {
            "kind": kind,
            "pid": os.getpid(),
            "actor": acting.name,
            "started": iso(utc_now()),
            "temp": str(temp.absolute()),
            "out": str(out.absolute()),
            **details,
        }
        os.write(fd, json.dumps(record).encode())
        os.fsync(fd)
        os.rename(draft, entry)
        fsync_dir(folder)
        yield
        entry.unlink()
    finally:
        draft.unlink(missing_ok=True)
        os.close(fd)


def export_event(acting: Acting, bundle_id: str) -> tuple[int | None, bool]:
    """The seq of the export event of ``bundle_id`` (None if it was never logged), and whether it already failed."""
    needle = json.dumps(bundle_id)
    seq: int | None = None
    failed = False
    with acting.archive.db.read() as session:
        rows = session.execute(
            select(Event.seq, Event.action, Event.payload).where(
                Event.action.in_(["export", "export.failed"]), Event.payload.contains(needle)
            )
        )
        for row_seq, action, payload_text in rows:
            if parse(payload_text).get("bundle_id") != bundle_id:
                continue
            if action == "export":
                seq = int(row_seq)
            else:
                failed = True
    return seq, failed


def _is_temp_of(temp: Path, out: Path) -> bool:
    return temp.parent == out.parent and temp.name.startswith(f".{out.name}.") and bool(_TEMP_NAME.fullmatch(temp.name))


def _settle(acting: Acting, record: dict[str, Any], may_log: bool) -> bool:
    """Remove a dead delivery's temp file; log ``export.failed`` when due. True when the entry is done."""
    temp, out = Path(str(record.get("temp"))), Path(str(record.get("out")))
    # Only what a delivery itself creates is removed, whatever an entry says.
    importing = record.get("kind") == "import"
    private = acting.archive.config.root / PRIVATE_DIR
    if importing and temp.parent == private and temp.name.startswith(IMPORT_PREFIX):
        shutil.rmtree(temp, ignore_errors=True)
    elif not importing and _is_temp_of(temp, out) and not temp.is_dir():
        temp.unlink(missing_ok=True)
    if record.get("kind") != "export" or out.exists():
        return True
    bundle_id = str(record.get("bundle_id"))
    seq, failed = export_event(acting, bundle_id)
    if seq is None or failed:
        return True
    if not may_log:
        return False  # left for the next export by someone allowed to log export.failed
    with acting.writing() as session:
        acting.append(
            session,
            "export.failed",
            {
                "bundle_id": bundle_id,
                "export_seq": seq,
                "items": list(record.get("items") or []),
                "reason": f"the exporting process (pid {record.get('pid')}) ended before the bundle was complete; "
                "its partial file was removed",
            },
        )
    acting.archive.notices.append(
        f"export of bundle {bundle_id} (event {seq}) had been interrupted; its partial file was removed "
        "and export.failed was logged"
    )
    return True


def sweep(acting: Acting) -> None:
    """Clean up after deliveries whose process died: temp files removed, ``export.failed`` logged."""
    folder = acting.archive.config.root / JOURNAL_DIR
    if not folder.is_dir():
        return
    may_log = allows(acting.role, Permission.EXPORT)
    for entry in sorted([*folder.glob("*.json"), *folder.glob("*.new")]):
        try:
            fd = os.open(entry, os.O_RDWR)
        except FileNotFoundError:
            continue  # finished meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is still at work
            if entry.suffix == ".new":
                entry.unlink(missing_ok=True)  # its process died before it had a temp file
                continue
            try:
                record = json.loads(entry.read_bytes())
            except ValueError:
                record = None
            if not isinstance(record, dict) or _settle(acting, record, may_log):
                entry.unlink(missing_ok=True)
        finally:
            os.close(fd)
