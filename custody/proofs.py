"""Checkpoints for publication, and inclusion / consistency proofs against them."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from sqlalchemy.orm import Session

from .archive import Acting, Archive
from .checks import Check, CheckKind
from .db.models import CheckpointRow, Event
from .errors import EventNotFoundError, InputError, IntegrityError, ProofError
from .log import checkpoints, merkle, note, tree
from .log.events import LogEvent, archive_identity
from .log.logevent import EventJSON
from .roles import Permission
from .timestamp import timestamp_checkpoint


def archive_vkey(archive: Archive) -> str:
    """The archive's C2SP verifier key ``origin+keyhash+base64(0x01||pubkey)``, as the verified event 0 states it.

    Never read from keys/archive.pub.pem (an unsigned file); IntegrityError if the genesis does not verify.

    Raises:
        IntegrityError: the archive's genesis event does not verify.
    """
    with archive.db.read() as session:
        return archive_identity(session).vkey


def _latest(session: Session) -> CheckpointRow:
    row = checkpoints.latest(session)
    if row is None:
        raise InputError("the archive has no checkpoint yet; run 'custody checkpoint'")
    return row


def sign_checkpoint(acting: Acting) -> CheckpointRow:
    """Sign the current tree head if any event is not yet covered; return the latest checkpoint.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        InputError: the archive has no checkpoint and nothing to sign.
    """
    acting.require(Permission.CHECKPOINT)
    with acting.archive.db.write() as session:
        written = checkpoints.write(session, acting.archive_signer, acting.archive.config.origin, acting.signer)
        row = written or _latest(session)
    # The newest checkpoint gets its token here (if it has none): it dates every event before it.
    timestamp_checkpoint(acting.archive, row.num)
    return row


def checkpoint_json(archive: Archive, row: CheckpointRow) -> dict[str, object]:
    """The JSON form of a stored checkpoint with its RFC 3161 token, if any (schemas/checkpoint.schema.json)."""
    from .timestamp.stamps import token_of

    with archive.db.read() as session:
        stamp = token_of(session, row.num)
        timestamp = (
            None
            if stamp is None
            else {
                "tsa_url": stamp.tsa_url,
                "attested_time": stamp.gen_time,
                "token": base64.b64encode(stamp.response).decode("ascii"),
            }
        )
    return {
        "number": row.num,
        "origin": archive.config.origin,
        "size": row.size,
        "root": row.root,
        "note": row.note,
        "time": row.time,
        "timestamp": timestamp,
    }


def latest_note(archive: Archive) -> str:
    """The newest signed checkpoint note, for publication.

    Raises:
        InputError: the archive has no checkpoint yet.
    """
    with archive.db.read() as session:
        return _latest(session).note


@dataclass(frozen=True)
class InclusionProof:
    """Proof that one event is leaf ``leaf_index`` of the tree a checkpoint signs."""

    leaf_index: int
    tree_size: int
    hashes: list[bytes]
    checkpoint: str
    event: EventJSON

    def to_json(self) -> dict[str, object]:
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "hashes": [h.hex() for h in self.hashes],
            "checkpoint": self.checkpoint,
            "event": self.event,
        }


def _event(session: Session, seq: int) -> LogEvent:
    row = session.get(Event, seq)
    if row is None:
        raise EventNotFoundError(f"no event {seq} in the log; 'custody log' lists them")
    return LogEvent.from_row(row)


def inclusion_in(session: Session, seq: int, checkpoint: CheckpointRow) -> InclusionProof:
    """An inclusion proof of event ``seq`` to ``checkpoint``, inside an open session."""
    event = _event(session, seq)
    if seq >= checkpoint.size:
        raise InputError(f"event {seq} is newer than the checkpoint (size {checkpoint.size}); run 'custody checkpoint'")
    hashes = merkle.inclusion_proof(seq, checkpoint.size, tree.DbNodes(session))
    return InclusionProof(seq, checkpoint.size, hashes, checkpoint.note, event.to_json())


def inclusion(acting: Acting, seq: int) -> InclusionProof:
    """Inclusion proof of event ``seq`` to the latest checkpoint.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        EventNotFoundError: no such event.
        InputError, ProofError: the event is not yet covered by a checkpoint.
    """
    acting.require(Permission.VIEW)
    with acting.archive.db.read() as session:
        return inclusion_in(session, seq, _latest(session))


@dataclass(frozen=True)
class ConsistencyProof:
    """Proof that the tree of ``new_size`` leaves extends the tree of ``old_size``."""

    old_size: int
    new_size: int
    hashes: list[bytes]
    old_root: bytes
    new_root: bytes

    def to_json(self) -> dict[str, object]:
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "hashes": [h.hex() for h in self.hashes],
            "old_root": self.old_root.hex(),
            "new_root": self.new_root.hex(),
        }


def consistency(acting: Acting, old_size: int, new_size: int | None = None) -> ConsistencyProof:
    """Consistency proof between two tree sizes (``new_size`` defaults to the latest checkpoint).

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        InputError, ProofError: a size beyond the latest checkpoint, or sizes out of order.
    """
    acting.require(Permission.VIEW)
    with acting.archive.db.read() as session:
        target = new_size if new_size is not None else _latest(session).size
        size = tree.tree_size(session)
        if not 0 < old_size <= target <= size:
            raise InputError(
                f"consistency proof needs 0 < old size ({old_size}) <= new size ({target}) <= log size ({size})"
            )
        nodes = tree.DbNodes(session)
        hashes = merkle.consistency_proof(old_size, target, nodes) if old_size < target else []
        return ConsistencyProof(old_size, target, hashes, merkle.root(old_size, nodes), merkle.root(target, nodes))


def verify_event_inclusion(acting: Acting, seq: int, published: str) -> Check:
    """Check that event ``seq`` is in the tree a published checkpoint note signs (an ``inclusion`` check).

    A checkpoint that is not the archive's, or an event missing from the log, is a failed check.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        InputError: a checkpoint that cannot answer: it covers only events before ``seq``.
    """
    acting.require(Permission.VERIFY)
    subject = f"event {seq}"

    def failed(detail: str) -> Check:
        return Check(CheckKind.INCLUSION, subject, False, detail)

    vkey = archive_vkey(acting.archive)
    try:
        cp = note.open_checkpoint(published, vkey)
    except ProofError as exc:
        return failed(f"the checkpoint does not verify with this archive's key: {exc}")
    if not 0 <= seq < cp.size:
        raise InputError(
            f"cannot check with this checkpoint: it covers events 0..{cp.size - 1}, not event {seq}; "
            "use a checkpoint published after the event was logged"
        )
    with acting.archive.db.read() as session:
        row = session.get(Event, seq)
        if row is None:
            return failed(f"event {seq} is covered by the checkpoint (size {cp.size}) but missing from the log")
        event = LogEvent.from_row(row)
        try:
            proof = merkle.inclusion_proof(seq, cp.size, tree.DbNodes(session))
        except IntegrityError as exc:
            return failed(str(exc))
    ok = merkle.verify_inclusion(merkle.leaf_hash(event.canonical()), seq, cp.size, proof, cp.root)
    detail = (
        f"event {seq} is leaf {seq} of the signed tree of size {cp.size}"
        if ok
        else f"event {seq} as stored is not in the tree the checkpoint signs (size {cp.size})"
    )
    return Check(CheckKind.INCLUSION, subject, ok, detail)
