"""Where replicas are and what the log records of them (custody.replicate makes them; verify re-reads them)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .canonical import parse
from .checks import CheckKind, Report
from .db.models import Event, Item
from .errors import ConfigError, CustodyError, InputError, StoreError
from .hashing import digest_stream
from .roles import Action
from .store.base import BlobStore
from .store.local import LocalBlobStore


@dataclass(frozen=True)
class Target:
    """Where replicas go, as recorded in the log (no credentials: those come from the environment)."""

    url: str  # file:/absolute/path or s3://bucket/prefix
    endpoint: str | None = None
    retention_days: int | None = None

    def to_json(self) -> dict[str, object]:
        return {"url": self.url, "endpoint": self.endpoint, "retention_days": self.retention_days}


def parse_target(
    text: str, endpoint: str | None = None, retention_days: int | None = None, allow_unlocked: bool = False
) -> Target:
    """A ``--to`` value: ``s3://BUCKET/PREFIX`` or a folder path."""
    if text.startswith("s3://"):
        return Target(text.rstrip("/"), endpoint, retention_days if retention_days is not None else 3650)
    if "://" in text:
        raise InputError(f"--to '{text}': give a folder or s3://BUCKET/PREFIX")
    if endpoint is not None or allow_unlocked:
        raise InputError("--s3-endpoint and --allow-unlocked apply to an s3:// target only")
    return Target("file:" + str(Path(text).expanduser().resolve()))


def open_target(root: Path, target: Target, allow_unlocked: bool = False) -> BlobStore:
    """The target's store (created for a folder); ``root`` is the archive folder (S3 spool files go there)."""
    if target.url.startswith("file:"):
        path = Path(target.url[len("file:") :])
        if path == root or path.is_relative_to(root):
            raise InputError(f"{path}: a replica must be outside the archive folder (another disk or place)")
        return LocalBlobStore(path)
    from .store.s3 import S3BlobStore

    spool = root / "spool"
    spool.mkdir(mode=0o700, exist_ok=True)
    options: dict[str, object] = {"spool_dir": spool, "allow_unlocked": allow_unlocked}
    if target.endpoint is not None:
        options["endpoint_url"] = target.endpoint
    if target.retention_days is not None:
        options["retention_days"] = target.retention_days
    return S3BlobStore.from_url(target.url, **options)


def _replicate_events(session: Session) -> Iterable[tuple[int, dict[str, Any]]]:
    rows = session.execute(select(Event.seq, Event.payload).where(Event.action == Action.REPLICATE).order_by(Event.seq))
    for seq, text in rows:
        try:
            payload = parse(text)
        except ValueError:
            continue  # verify reports an unreadable payload
        if isinstance(payload, dict):
            yield int(seq), payload


def recorded(session: Session) -> dict[str, tuple[Target, dict[str, int]]]:
    """Target url -> (target, {sha256: size}) of every replica the log records."""
    found: dict[str, tuple[Target, dict[str, int]]] = {}
    for _seq, payload in _replicate_events(session):
        raw = payload.get("target")
        if not isinstance(raw, dict) or not isinstance(raw.get("url"), str):
            continue
        target = Target(str(raw["url"]), raw.get("endpoint"), raw.get("retention_days"))
        blobs = found.setdefault(target.url, (target, {}))[1]
        for blob in payload.get("blobs") or []:
            if isinstance(blob, dict) and isinstance(blob.get("sha256"), str):
                blobs[blob["sha256"]] = int(blob.get("size") or 0)
    return found


def check_replicas(session: Session, root: Path, report: Report) -> None:
    """Re-hash every recorded replica (verify --all): a missing or altered replica blob is a named failure."""
    owners = {sha: item for item, sha in session.execute(select(Item.item_id, Item.sha256))}
    for url, (target, blobs) in sorted(recorded(session).items()):
        try:
            store = open_target(root, target)
        except (ConfigError, StoreError, InputError) as exc:
            report.add(CheckKind.REPLICA, url, False, f"the replica cannot be opened: {exc}")
            continue
        bad = 0
        for sha, size in sorted(blobs.items()):
            subject = f"{url} blob {sha}" + (f" ({owners[sha]})" if sha in owners else "")
            try:
                with store.open_read(sha) as stream:
                    got = digest_stream(stream)
            except (CustodyError, OSError) as exc:
                bad += 1
                report.add(CheckKind.REPLICA, subject, False, f"missing or unreadable in the replica: {exc}")
                continue
            if got.sha256 != sha or got.size != size:
                bad += 1
                report.add(CheckKind.REPLICA, subject, False, f"the replica's bytes differ (sha256 {got.sha256[:16]}…)")
        if not bad:
            report.add(CheckKind.REPLICA, url, True, f"{len(blobs)} replica blobs re-hashed and match")
