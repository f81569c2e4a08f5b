"""Managing actors: each has an Ed25519 key pair and one role; revocation, rotation and role changes are logged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import keys
from .archive import (
    Acting,
    ActorState,
    Archive,
    Passphrase,
    actor_state,
    archive_key_path,
    registered_actors,
    signing_key_path,
)
from .db.models import Actor, Event
from .errors import ActorError, InputError
from .log.authority import rotation_statement
from .roles import Action, Permission, Role
from .timeutil import parse_utc

_TEXT_LIMIT = 200


@dataclass(frozen=True)
class ActorInfo:
    """Public facts about one actor, as the log leaves them now."""

    name: str
    role: str
    key_id: str
    public_key_pem: str
    registered_seq: int
    status: str = "active"  # "active" or "revoked"
    display_name: str = ""
    affiliation: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "key_id": self.key_id,
            "registered_seq": self.registered_seq,
            "status": self.status,
            "display_name": self.display_name,
            "affiliation": self.affiliation,
        }


def _info(state: ActorState) -> ActorInfo:
    return ActorInfo(
        state.name,
        state.role,
        state.key_id,
        state.public_key_pem,
        state.registered_seq,
        "revoked" if state.revoked_seq is not None else "active",
        state.display_name,
        state.affiliation,
    )


def _role(role: str) -> str:
    try:
        return Role(role).value
    except ValueError:
        raise ActorError(f"unknown role '{role}'; choose one of {', '.join(r.value for r in Role)}") from None


def _free_text(value: str, what: str) -> str:
    text = value.strip()
    if len(text) > _TEXT_LIMIT or any(not ch.isprintable() for ch in text):
        raise InputError(f"--{what} must be printable text of at most {_TEXT_LIMIT} characters")
    return text


def add_actor(
    acting: Acting,
    name: str,
    role: str,
    new_passphrase: Passphrase,
    display_name: str = "",
    affiliation: str = "",
) -> ActorInfo:
    """Register a new actor with a fresh key pair (admins only); logged as ``actor.add``.

    ``display_name`` and ``affiliation`` are free text (spaces allowed) carried in the signed payload.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        ActorError: the name is taken or not a valid actor name.
        InputError: a display name or affiliation that is not short printable text, or a weak passphrase.
    """
    from .initialise import check_actor_name

    check_actor_name(name)
    role_value = _role(role)
    extra = {
        "display_name": _free_text(display_name, "display-name"),
        "affiliation": _free_text(affiliation, "affiliation"),
    }
    acting.unlock()
    acting.require(Permission.MANAGE_ACTORS)
    cfg = acting.archive.config
    with acting.archive.db.read() as session:
        if session.get(Actor, name) is not None:
            raise ActorError(f"actor '{name}' already exists; choose another name")
    secret = new_passphrase(name)
    keys.check_passphrase(secret, name, keys.policy_of(cfg.keys.min_length, cfg.keys.min_score))
    key = keys.generate()
    paths = [signing_key_path(cfg, name), archive_key_path(cfg, name)]
    try:
        salt = keys.new_salt()
        keys.save_private(paths[0], key, secret, salt=salt)
        # Every actor holds a copy of the archive key so any command can sign its checkpoint.
        keys.save_private(paths[1], acting.archive_private_key(), secret, salt=salt)
        public = keys.public_pem(key.public_key())
        with acting.writing() as session:
            if session.get(Actor, name) is not None:
                raise ActorError(f"actor '{name}' already exists; choose another name")
            payload: dict[str, object] = {
                "name": name,
                "role": role_value,
                "key_id": keys.key_id(key.public_key()),
                "public_key": public,
            }
            payload.update({k: v for k, v in extra.items() if v})
            event = acting.append(session, Action.ACTOR_ADD, payload)
            row = Actor(
                name=name,
                role=role_value,
                key_id=keys.key_id(key.public_key()),
                public_key_pem=public,
                created_seq=event.seq,
            )
            session.add(row)
            info = _info(actor_state(session, row))
    except BaseException:
        for path in paths:
            path.unlink(missing_ok=True)
        raise
    return info


def _active(session: Session, archive: Archive, name: str) -> ActorState:
    state = actor_state(session, archive.actor(session, name))
    if state.revoked_seq is not None:
        raise ActorError(f"actor '{name}' was already revoked at event {state.revoked_seq}; nothing was done")
    return state


def _admins_left(session: Session, without: str) -> int:
    return sum(
        1
        for row in registered_actors(session)
        if row.name != without and (s := actor_state(session, row)).revoked_seq is None and s.role == Role.ADMIN.value
    )


def _seq_of(session: Session, since: str, before: int, key_id: str) -> int:
    """An event seq, or for an ISO-8601 UTC time the first event that may have been signed after it by ``key_id``."""
    if since.isdigit():
        seq = int(since)
    else:
        # A person's time: any ISO-8601 form with an offset (event times themselves have one strict form).
        try:
            stated: datetime | None = parse_utc(since)
        except ValueError:
            stated = None
        if stated is None or stated.tzinfo is None:
            raise InputError(
                f"--compromised-since '{since}' is neither an event number nor an ISO-8601 time with an offset"
            )
        when = stated.astimezone(UTC)
        # Event times are fixed-width ISO text, so text order is time order.
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        first = session.scalar(select(Event.seq).where(Event.time >= stamp).order_by(Event.seq).limit(1))
        # The stolen key's own events are dated by its holder's clock: set back (the log accepts any time after its
        # latest event), they would read as made before the compromise and escape it. Only another key's event
        # dated before the time shows that the events up to it were logged before it.
        vouched = session.scalar(
            select(Event.seq).where(Event.time < stamp, Event.actor != key_id).order_by(Event.seq.desc()).limit(1)
        )
        after_vouched = 2 if vouched is None else int(vouched) + 1
        # A time before event 2 (the README's example on an archive begun later; a key stolen before the archive
        # existed) puts every event the key could have signed after the compromise: from event 2, the first
        # after the archive's genesis (its init and first admin).
        seq = max(min(before if first is None else int(first), after_vouched), 2)
    if not 2 <= seq <= before:
        raise InputError(f"--compromised-since {since} must name event 2 to {before} (a point before the revocation)")
    return seq


def revoke_actor(acting: Acting, name: str, reason: str, compromised_since: str | None = None) -> int:
    """Revoke ``name``'s key (admins only), logged as ``actor.revoke``; returns the event's seq.

    Signatures made before the revocation stay valid; with ``compromised_since`` (an event number or an
    ISO-8601 UTC time) the key's events from that point are reported as signed by a compromised key.
    Refuses to revoke the last active admin.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        ActorError: no such actor, already revoked, or the last active admin.
        InputError: no reason, or a --compromised-since that is neither an event number before the revocation nor
            a time with an offset.
    """
    reason = _free_text(reason, "reason")
    if not reason:
        raise InputError("--reason is required: say why the key is revoked (it is logged)")
    acting.unlock()
    acting.require(Permission.MANAGE_ACTORS)
    with acting.writing() as session:
        state = _active(session, acting.archive, name)
        if state.role == Role.ADMIN.value and not _admins_left(session, name):
            raise ActorError(f"{name} is the last active admin; add another admin before revoking {name}")
        payload: dict[str, object] = {"name": name, "key_id": state.key_id, "reason": reason}
        if compromised_since is not None:
            last = session.scalar(select(Event.seq).order_by(Event.seq.desc()).limit(1)) or 0
            payload["compromised_since"] = _seq_of(session, compromised_since, last, state.key_id)
        event = acting.append(session, Action.ACTOR_REVOKE, payload)
    return event.seq


def change_role(acting: Acting, name: str, role: str) -> ActorInfo:
    """Give ``name`` another role from the next event on (admins only), logged as ``actor.role``.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        ActorError: no such actor, an unknown role, the role it already has, or the last active admin.
    """
    role_value = _role(role)
    acting.unlock()
    acting.require(Permission.MANAGE_ACTORS)
    with acting.writing() as session:
        state = _active(session, acting.archive, name)
        if state.role == role_value:
            raise ActorError(f"{name} already has role {role_value}; nothing was logged")
        if state.role == Role.ADMIN.value and not _admins_left(session, name):
            raise ActorError(f"{name} is the last active admin; make another actor admin first")
        acting.append(session, Action.ACTOR_ROLE, {"name": name, "key_id": state.key_id, "role": role_value})
        return _info(actor_state(session, acting.archive.actor(session, name)))


def rotate_actor(acting: Acting, name: str, new_passphrase: Passphrase, old_passphrase: Passphrase | None) -> ActorInfo:
    """Give ``name`` a new key (admins only), logged as ``actor.rotate`` with proof of possession.

    The new key signs the rotation statement (custody.log.authority.rotation_statement); when the old
    key file is present and ``old_passphrase`` gives its passphrase ("" to skip), the old key endorses
    it too (a wrong passphrase raises WrongPassphraseError, nothing logged). The old key file
    is kept as ``<name>.signing.<old key id prefix>.retired.pem``: it may no longer sign.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        ActorError: no such actor, or a revoked one.
        InputError: the new passphrase is too weak.
    """
    acting.unlock()
    acting.require(Permission.MANAGE_ACTORS)
    cfg = acting.archive.config
    with acting.archive.db.read() as session:
        old = _active(session, acting.archive, name)
    old_path = signing_key_path(cfg, name)
    endorser: keys.Signer | None = None
    if name == acting.name:
        endorser = acting.signer
    elif old_path.exists() and old_passphrase is not None:
        old_secret = old_passphrase(name)  # "" skips the endorsement (the holder is not at hand)
        if old_secret:
            old_key = keys.load_private(old_path, old_secret, name)
            if keys.key_id(old_key.public_key()) != old.key_id:
                raise ActorError(f"{old_path} does not hold {name}'s registered key; nothing was logged")
            endorser = keys.Signer(name, old_key)
    secret = new_passphrase(name)
    keys.check_passphrase(secret, name, keys.policy_of(cfg.keys.min_length, cfg.keys.min_score))
    key = keys.generate()
    new_id = keys.key_id(key.public_key())
    statement = rotation_statement(name, old.key_id, new_id)
    payload: dict[str, object] = {
        "name": name,
        "old_key_id": old.key_id,
        "key_id": new_id,
        "public_key": keys.public_pem(key.public_key()),
        "possession": keys.b64(key.sign(statement)),
    }
    if endorser is not None:
        payload["endorsement"] = keys.b64(endorser.sign(statement))
    staged = old_path.with_name(f"{name}.signing.{new_id[:16]}.new.pem")
    staged_archive = archive_key_path(cfg, name).with_name(f"{name}.archive.{new_id[:16]}.new.pem")
    salt = keys.new_salt()
    keys.save_private(staged, key, secret, salt=salt)
    try:
        keys.save_private(staged_archive, acting.archive_private_key(), secret, salt=salt)
        with acting.writing() as session:
            acting.append(session, Action.ACTOR_ROTATE, payload)
    except BaseException:
        staged.unlink(missing_ok=True)
        staged_archive.unlink(missing_ok=True)
        raise
    if old_path.exists():
        old_path.replace(old_path.with_name(f"{name}.signing.{old.key_id[:16]}.retired.pem"))
    staged.replace(old_path)
    staged_archive.replace(archive_key_path(cfg, name))
    with acting.archive.db.read() as session:
        return _info(actor_state(session, acting.archive.actor(session, name)))


def change_passphrase(archive: Archive, name: str, old_passphrase: Passphrase, new_passphrase: Passphrase) -> None:
    """Re-encrypt ``name``'s key files on this machine under a new passphrase (not logged: nothing is signed).

    Raises:
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        ActorError: no such actor here.
        InputError: the new passphrase is too weak.
    """
    cfg = archive.config
    paths = [signing_key_path(cfg, name), archive_key_path(cfg, name)]
    with archive.db.read() as session:
        archive.actor(session, name)
    old = old_passphrase(name)
    opened = [keys.load_private(path, old, name) for path in paths]
    secret = new_passphrase(name)
    keys.check_passphrase(secret, name, keys.policy_of(cfg.keys.min_length, cfg.keys.min_score))
    salt = keys.new_salt()
    for path, key in zip(paths, opened, strict=True):
        keys.save_private(path, key, secret, salt=salt)


def list_actors(archive: Archive) -> list[ActorInfo]:
    """Every registered actor, with the role, key and status the log gives it now.

    Raises:
        CustodyError: the catalog cannot be read (the log's lifecycle events are replayed).
    """
    with archive.db.read() as session:
        return [_info(actor_state(session, row)) for row in registered_actors(session)]


def public_key_of(archive: Archive, name: str) -> str:
    """The PEM public key of actor ``name`` (its current key after a rotation).

    Raises:
        ActorError: no such actor.
    """
    with archive.db.read() as session:
        return actor_state(session, archive.actor(session, name)).public_key_pem
