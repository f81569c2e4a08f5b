"""Catalog backups and restores: ``custody backup OUT`` and ``custody restore BACKUP --to DIR --blobs-from REPLICA``.

A backup is a folder holding a consistent snapshot of the SQLite catalog (SQLite's online backup
API: one read transaction, so appends made meanwhile are either wholly in it or not at all), the
archive's ``custody.toml``, ``checkpoint.txt`` (the newest signed checkpoint *inside* the snapshot,
which covers every event of it: checkpoints are written in the transaction that appends) and
``backup.json`` (what the backup holds, with the SHA-256 of each file). It holds no blobs (they
come from a replica, custody.replicate) and no private keys (each actor keeps their own, see
``actor backup``). PostgreSQL catalogs are backed up with ``pg_dump`` (README, "Backups").

A restore checks the backup's digests, writes the catalog and configuration into a new archive
folder, and copies every blob the catalog accounts for from a replica, re-hashing each. It signs
nothing; ``verify --all --against-checkpoint`` of a published checkpoint then shows whether the
restored archive is the one that was published.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from .archive import Acting
from .config import read_config
from .db.models import Item
from .errors import ConfigError, CustodyError, InputError, IntegrityError
from .hashing import DualHasher
from .log import checkpoints, note
from .replicas import Target, open_target, recorded
from .roles import Permission
from .store.base import BlobStore
from .store.local import LocalBlobStore
from .timeutil import iso, utc_now

FORMAT = "custody-catalog-backup/1"
_FILES = ("custody.db", "custody.toml", "checkpoint.txt")


@dataclass(frozen=True)
class BackupResult:
    folder: Path
    checkpoint_size: int
    checkpoint_root: str
    database_bytes: int

    def to_json(self) -> dict[str, object]:
        return {
            "folder": str(self.folder),
            "checkpoint": {"size": self.checkpoint_size, "root": self.checkpoint_root},
            "database_bytes": self.database_bytes,
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _sqlite_path(url: str) -> Path:
    return Path(url[len("sqlite:///") :])


def backup_catalog(acting: Acting, out: Path) -> BackupResult:
    """Write a consistent snapshot of the catalog, with the checkpoint it corresponds to, into ``out``."""
    acting.unlock_for_reading()
    acting.require(Permission.ADMINISTER)
    archive = acting.archive
    cfg = archive.config
    if archive.db.kind != "sqlite":
        raise InputError(
            "custody backup copies SQLite catalogs; back up a PostgreSQL catalog with "
            "'pg_dump --format=custom --serializable-deferrable' (README, 'Backups')"
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out}: already exists; give a new folder for the backup")
    work = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        work.mkdir(mode=0o700, parents=True)
        snapshot = work / "custody.db"
        source = sqlite3.connect(_sqlite_path(cfg.resolved_db_url()))
        try:
            target = sqlite3.connect(snapshot)
            try:
                source.backup(target)
                # One self-contained file: no write-ahead log beside it (the restored archive turns WAL on again).
                target.execute("PRAGMA journal_mode = DELETE")
            finally:
                target.close()
        finally:
            source.close()
        os.chmod(snapshot, 0o600)
        engine = create_engine(f"sqlite:///{snapshot}")
        try:
            with Session(engine) as session:
                latest = checkpoints.latest(session)
                note_text = latest.note if latest is not None else None
        finally:
            engine.dispose()
        if note_text is None:
            raise InputError(f"{cfg.root}: the catalog has no checkpoint yet; run 'custody checkpoint' first")
        cp = note.parse_checkpoint(note_text.split("\n\n", 1)[0] + "\n")
        (work / "checkpoint.txt").write_text(note_text, encoding="utf-8")
        shutil.copyfile(cfg.root / "custody.toml", work / "custody.toml")
        manifest = {
            "format": FORMAT,
            "origin": cfg.origin,
            "created": iso(utc_now()),
            "checkpoint": {"size": cp.size, "root": cp.root.hex()},
            "files": {name: {"sha256": _sha256(work / name), "size": (work / name).stat().st_size} for name in _FILES},
        }
        (work / "backup.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if out.exists():
            out.rmdir()
        os.replace(work, out)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise InputError(f"{out}: cannot write the backup ({exc.strerror or exc}); nothing was kept") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return BackupResult(out, cp.size, cp.root.hex(), manifest["files"]["custody.db"]["size"])  # type: ignore[index]


@dataclass
class RestoreResult:
    archive: Path
    checkpoint_size: int
    blobs: int = 0
    missing: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "archive": str(self.archive),
            "checkpoint_size": self.checkpoint_size,
            "blobs_restored": self.blobs,
            "missing": self.missing,
        }


def _read_manifest(backup: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((backup / "backup.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{backup}: not a custody backup (backup.json unreadable: {exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{backup}: not a custody catalog backup ({FORMAT})")
    for name in _FILES:
        want = manifest.get("files", {}).get(name, {}).get("sha256")
        path = backup / name
        if not path.is_file() or _sha256(path) != want:
            raise IntegrityError(f"{backup}/{name}: missing or altered since the backup was written; not restored")
    return manifest


def restore_archive(backup: Path, dest: Path, replica: Target) -> RestoreResult:
    """A new archive folder at ``dest`` from a catalog backup and the blobs of a replica."""
    manifest = _read_manifest(backup)
    if dest.exists():
        raise InputError(f"{dest}: already exists; restore into a new folder")
    work = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        work.mkdir(mode=0o700, parents=True)
        (work / "keys").mkdir(mode=0o700)
        shutil.copyfile(backup / "custody.toml", work / "custody.toml")
        os.chmod(work / "custody.toml", 0o600)
        cfg = read_config(work)
        if not cfg.db_url.startswith("sqlite:///") or cfg.db_url.startswith("sqlite:////"):
            raise InputError(f"{backup}: its catalog is not the archive's own SQLite file; restore it by hand")
        db_path = work / cfg.db_url[len("sqlite:///") :]
        shutil.copyfile(backup / "custody.db", db_path)
        os.chmod(db_path, 0o600)
        if not cfg.store_url.startswith("file:") or Path(cfg.store_url[len("file:") :]).is_absolute():
            raise InputError(f"{backup}: the archive's store is not its own folder; restore the blobs by hand")
        store = LocalBlobStore(work / cfg.store_url[len("file:") :])
        result = RestoreResult(dest, int(manifest["checkpoint"]["size"]))
        engine = create_engine(f"sqlite:///{db_path}")
        try:
            with Session(engine) as session:
                # Item bytes, and whatever else was replicated (metadata dumps, withheld values); an
                # imported record may name dumps only its sender holds.
                wanted = sorted(
                    set(session.scalars(select(Item.sha256)))
                    | {sha for _t, blobs in recorded(session).values() for sha in blobs}
                )
        finally:
            engine.dispose()
        try:
            source = open_target(work, replica)
        except ConfigError as exc:
            raise InputError(f"--blobs-from: {exc}") from None
        for sha in wanted:
            if _copy_checked(source, store, sha):
                result.blobs += 1
            else:
                result.missing.append(sha)
        store.sync()
        os.replace(work, dest)
    except (OSError, sqlite3.Error) as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise InputError(f"{dest}: cannot restore ({exc}); nothing was kept") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return result


def _copy_checked(source: BlobStore, store: LocalBlobStore, sha: str) -> bool:
    """Copy one blob from the replica if its bytes hash to ``sha``."""
    writer = store.open_writer(durable=False)
    try:
        hasher = DualHasher()
        with source.open_read(sha) as stream:
            while chunk := stream.read(8 * 1024 * 1024):
                hasher.update(chunk)
                writer.write(chunk)
        got = hasher.digests()
        if got.sha256 != sha:
            writer.abort()
            return False
        writer.commit(sha, got.blake3)
        return True
    except (CustodyError, OSError):
        writer.abort()
        return False
