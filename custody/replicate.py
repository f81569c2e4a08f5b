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

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from .archive import Acting
from .db.models import Item
from .diskspace import referenced
from .errors import CustodyError
from .hashing import DualHasher, digest_stream
from .replicas import Target, open_target, recorded
from .roles import Action, Permission
from .store.base import BlobStore

PER_EVENT = 1000
_CHUNK = 8 * 1024 * 1024


@dataclass
class ReplicateResult:
    target: str
    copied: int = 0
    already: int = 0  # recorded by an earlier run
    bytes: int = 0
    events: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
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
    copied: list[dict[str, object]] = []
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
