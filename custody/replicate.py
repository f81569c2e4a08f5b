"""Copies in more than one place: ``custody replicate --to DIR|s3://BUCKET/PREFIX``.

Every blob the catalog accounts for (items' bytes, metadata dumps, withheld values) is copied to a
second store: a folder (same layout as the archive's store, read-only blobs) or an S3 bucket with
Object Lock (COMPLIANCE mode, as the archive's own S3 store writes). Each copy is re-hashed on the
way (the source must still hash to its digest) and, when the target already held the blob, the
target's copy is re-hashed before it is recorded. Each replica is recorded in the custody log as a
``replicate`` event (signed by an admin: replication sends every piece of evidence to another place),
up to ``PER_EVENT`` blobs per event, naming the items whose bytes were copied. ``verify --all``
re-hashes every recorded replica: a missing or altered replica blob is a named failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .archive import Acting, Archive
from .canonical import parse
from .checks import Report
from .db.models import Event, Item
from .diskspace import referenced
from .errors import ConfigError, CustodyError, InputError, StoreError
from .hashing import DualHasher, digest_stream
from .roles import Action, Permission
from .store.base import BlobStore
from .store.local import LocalBlobStore

PER_EVENT = 1000
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Target:
    """Where replicas go, as recorded in the log (no credentials: those come from the environment)."""

    url: str  # file:/absolute/path or s3://bucket/prefix
    endpoint: str | None = None
    retention_days: int | None = None

    def to_json(self) -> dict[str, Any]:
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
    options: dict[str, Any] = {"spool_dir": spool, "allow_unlocked": allow_unlocked}
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


@dataclass
class ReplicateResult:
    target: str
    copied: int = 0
    already: int = 0  # recorded by an earlier run
    bytes: int = 0
    events: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "copied": self.copied,
            "already_replicated": self.already,
            "bytes": self.bytes,
            "events": self.events,
            "failures": self.failures,
        }


def _hash_target(store: BlobStore, sha: str) -> str | None:
    """The target copy's SHA-256, or None if it cannot be read."""
    try:
        with store.open_read(sha) as stream:
            return digest_stream(stream).sha256
    except (CustodyError, OSError):
        return None


def _copy(source: BlobStore, target: BlobStore, sha: str) -> tuple[int, str]:
    """Copy one blob, checking its digest on the way; (size, problem or "")."""
    writer = target.open_writer()
    try:
        hasher = DualHasher()
        with source.open_read(sha) as stream:
            while chunk := stream.read(_CHUNK):
                hasher.update(chunk)
                writer.write(chunk)
        got = hasher.digests()
        if got.sha256 != sha:
            writer.abort()
            return (
                got.size,
                "the archive's copy no longer hashes to its digest (run 'custody verify --all'); not copied",
            )
        new = writer.commit(sha, got.blake3)
    except (CustodyError, OSError) as exc:
        writer.abort()
        return 0, f"not copied: {exc}"
    if not new and _hash_target(target, sha) != sha:
        return got.size, "the target already holds an object under this digest whose bytes differ; not recorded"
    return got.size, ""


def replicate(
    acting: Acting,
    target: Target,
    allow_unlocked: bool = False,
    on_blob: Callable[[int], None] = lambda _n: None,
) -> ReplicateResult:
    """Copy every blob not yet replicated to ``target``, and record the copies in the log."""
    acting.unlock()
    acting.require(Permission.ADMINISTER)
    archive = acting.archive
    store = open_target(archive.config.root, target, allow_unlocked)
    with archive.db.snapshot() as session:
        wanted = sorted(referenced(session))
        done = recorded(session).get(target.url, (target, {}))[1]
        owners = {sha: item for item, sha in session.execute(select(Item.item_id, Item.sha256))}
    result = ReplicateResult(target.url)
    copied: list[dict[str, Any]] = []
    for sha in wanted:
        if sha in done:
            result.already += 1
            continue
        if sha not in owners and not archive.store.exists(sha):
            continue  # a metadata dump or withheld values an imported record names; the sender holds them
        size, problem = _copy(archive.store, store, sha)
        on_blob(size)
        if problem:
            result.failures.append(f"blob {sha} ({owners.get(sha, 'metadata or withheld values')}): {problem}")
            continue
        copied.append({"sha256": sha, "size": size})
        result.copied += 1
        result.bytes += size
    store.sync()
    if copied:
        with acting.writing() as session:
            for start in range(0, len(copied), PER_EVENT):
                part = copied[start : start + PER_EVENT]
                payload = {
                    "target": target.to_json(),
                    "blobs": part,
                    "items": sorted(owners[b["sha256"]] for b in part if b["sha256"] in owners),
                }
                result.events.append(acting.append(session, Action.REPLICATE, payload).seq)
    return result


def check_replicas(session: Session, archive: Archive, report: Report) -> None:
    """Re-hash every recorded replica (verify --all): a missing or altered replica blob is a named failure."""
    owners = {sha: item for item, sha in session.execute(select(Item.item_id, Item.sha256))}
    for url, (target, blobs) in sorted(recorded(session).items()):
        try:
            store = open_target(archive.config.root, target)
        except (ConfigError, StoreError, InputError) as exc:
            report.add("replica", url, False, f"the replica cannot be opened: {exc}")
            continue
        bad = 0
        for sha, size in sorted(blobs.items()):
            subject = f"{url} blob {sha}" + (f" ({owners[sha]})" if sha in owners else "")
            try:
                with store.open_read(sha) as stream:
                    got = digest_stream(stream)
            except (CustodyError, OSError) as exc:
                bad += 1
                report.add("replica", subject, False, f"missing or unreadable in the replica: {exc}")
                continue
            if got.sha256 != sha or got.size != size:
                bad += 1
                report.add("replica", subject, False, f"the replica's bytes differ (sha256 {got.sha256[:16]}…)")
        if not bad:
            report.add("replica", url, True, f"{len(blobs)} replica blobs re-hashed and match")
