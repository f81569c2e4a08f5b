"""A summary of the archive for administrators: where things live and how much there is."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from . import diskspace, fixity_records
from .archive import Acting, actor_state, registered_actors
from .db import migrate
from .db.models import Event, Item
from .log import checkpoints
from .roles import Permission
from .timestamp import stamps


def archive_status(acting: Acting) -> dict[str, Any]:
    """Database, store, counts, latest checkpoint and actors, as a JSON-able dict.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
    """
    acting.require(Permission.VIEW)
    archive = acting.archive
    with archive.db.read() as session:
        latest = checkpoints.latest(session)
        cov = fixity_records.coverage(session)
        unrecorded = diskspace.unrecorded(session, archive.store, diskspace.STATUS_SCAN_LIMIT)
        result: dict[str, Any] = {
            "archive": {
                "root": str(archive.config.root),
                "origin": archive.config.origin,
                "id": archive.config.archive_id,
            },
            "database": {
                "kind": archive.db.kind,
                "version": archive.db.server_version(),
                "url": archive.db.safe_url(),
                "schema": migrate.current_revision(archive.db),
            },
            "store": archive.store.describe(),
            "items": session.scalar(select(func.count()).select_from(Item)) or 0,
            "bytes_stored": int(session.scalar(select(func.coalesce(func.sum(Item.size), 0))) or 0),
            "events": session.scalar(select(func.count()).select_from(Event)) or 0,
            "latest_checkpoint": None
            if latest is None
            else {"number": latest.num, "size": latest.size, "root": latest.root, "time": latest.time},
            "tsa": {
                "url": archive.config.tsa.url,
                "ca": archive.config.tsa.ca,
                "untimestamped": len(stamps.untimestamped(session)),
            },
            # The role and status the log gives each actor now (actor.role, actor.revoke), as 'actor list' shows them:
            # the actors row keeps only the registration.
            "actors": [
                {"name": a.name, "role": a.role, "status": "revoked" if a.revoked_seq is not None else "active"}
                for a in (actor_state(session, row) for row in registered_actors(session))
            ],
            "fixity": cov.to_json() | {"summary": cov.describe()},
            "unrecorded_blobs": {
                "checked": unrecorded.checked,
                "count": len(unrecorded.digests),
                "digests": unrecorded.digests[:20],
                "summary": unrecorded.describe(),
            },
        }
    return result


def log_head(acting: Acting) -> dict[str, Any]:
    """The archive's identity, its number of events and its latest checkpoint: what a verification names.

    Cheap (three queries), unlike ``archive_status``, which lists the store and sums the fixity records.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
    """
    acting.require(Permission.VIEW)
    archive = acting.archive
    with archive.db.read() as session:
        latest = checkpoints.latest(session)
        return {
            "archive": {
                "root": str(archive.config.root),
                "origin": archive.config.origin,
                "id": archive.config.archive_id,
            },
            "events": session.scalar(select(func.count()).select_from(Event)) or 0,
            "latest_checkpoint": None
            if latest is None
            else {"number": latest.num, "size": latest.size, "root": latest.root, "time": latest.time},
        }
