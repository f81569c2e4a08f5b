"""Managing actors: each has an Ed25519 key pair and one role."""

from __future__ import annotations

from dataclasses import dataclass

from . import keys
from .archive import Acting, Archive, Passphrase, archive_key_path, registered_actors, signing_key_path
from .db.models import Actor
from .errors import ActorError
from .initialise import check_actor_name
from .roles import Permission, Role


@dataclass(frozen=True)
class ActorInfo:
    """Public facts about one actor."""

    name: str
    role: str
    key_id: str
    public_key_pem: str
    registered_seq: int

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "key_id": self.key_id,
            "registered_seq": self.registered_seq,
        }


def _info(row: Actor) -> ActorInfo:
    return ActorInfo(row.name, row.role, row.key_id, row.public_key_pem, row.created_seq)


def add_actor(acting: Acting, name: str, role: str, new_passphrase: Passphrase) -> ActorInfo:
    """Register a new actor with a fresh key pair (admins only); logged as ``actor.add``."""
    check_actor_name(name)
    try:
        role_value = Role(role).value
    except ValueError:
        raise ActorError(f"unknown role '{role}'; choose one of {', '.join(r.value for r in Role)}") from None
    acting.unlock()
    acting.require(Permission.MANAGE_ACTORS)
    cfg = acting.archive.config
    with acting.archive.db.read() as session:
        if session.get(Actor, name) is not None:
            raise ActorError(f"actor '{name}' already exists; choose another name")
    secret = new_passphrase(name)
    key = keys.generate()
    paths = [signing_key_path(cfg, name), archive_key_path(cfg, name)]
    try:
        keys.save_private(paths[0], key, secret)
        # Every actor holds a copy of the archive key so any command can sign its checkpoint.
        keys.save_private(paths[1], acting.archive_signer.private_key, secret)
        public = keys.public_pem(key.public_key())
        with acting.writing() as session:
            if session.get(Actor, name) is not None:
                raise ActorError(f"actor '{name}' already exists; choose another name")
            event = acting.append(
                session,
                "actor.add",
                {"name": name, "role": role_value, "key_id": keys.key_id(key.public_key()), "public_key": public},
            )
            row = Actor(
                name=name,
                role=role_value,
                key_id=keys.key_id(key.public_key()),
                public_key_pem=public,
                created_seq=event.seq,
            )
            session.add(row)
    except BaseException:
        for path in paths:
            path.unlink(missing_ok=True)
        raise
    return _info(row)


def list_actors(archive: Archive) -> list[ActorInfo]:
    """Every registered actor."""
    with archive.db.read() as session:
        return [_info(row) for row in registered_actors(session)]


def public_key_of(archive: Archive, name: str) -> str:
    """The PEM public key of actor ``name``."""
    with archive.db.read() as session:
        return archive.actor(session, name).public_key_pem
