"""Signed checkpoints of the custody log (C2SP tlog-checkpoint in a signed note)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db.models import CheckpointRow
from ..keys import Signer
from ..timeutil import iso, utc_now
from . import note, tree


def latest(session: Session) -> CheckpointRow | None:
    """The newest checkpoint, or None before the first."""
    return session.scalars(select(CheckpointRow).order_by(CheckpointRow.num.desc()).limit(1)).first()


def all_checkpoints(session: Session) -> list[CheckpointRow]:
    """Every checkpoint in the order written."""
    return list(session.scalars(select(CheckpointRow).order_by(CheckpointRow.num)))


def cosigner_name(key_id: str) -> str:
    """The name of an actor key's cosignature line on a checkpoint note."""
    from .authority import COSIGNER_PREFIX

    return COSIGNER_PREFIX + key_id


def write(session: Session, archive_signer: Signer, origin: str, cosigner: Signer) -> CheckpointRow | None:
    """Sign the current tree head unless the latest checkpoint already covers it.

    The archive key signs it; ``cosigner`` (the acting actor's registered key) co-signs it, so a copy
    of the archive key alone signs nothing that verifies once a key was revoked (custody.log.authority).
    """
    size = tree.tree_size(session)
    current = latest(session)
    if size == 0 or (current is not None and current.size >= size):
        return None
    root = tree.root(session, size)
    text = note.Checkpoint(origin=origin, size=size, root=root).body()
    signed = note.sign_note(text, origin, archive_signer.private_key)
    signed = note.add_signature(signed, cosigner_name(cosigner.key_id), cosigner.private_key)
    num = (session.scalar(select(func.max(CheckpointRow.num))) or 0) + 1
    row = CheckpointRow(num=num, size=size, root=root.hex(), note=signed, time=iso(utc_now()))
    session.add(row)
    session.flush()
    return row
