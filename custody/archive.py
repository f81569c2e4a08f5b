"""Opening an archive and acting in it as a named actor with an unlocked key."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import keys, roles
from .config import ArchiveConfig, find_archive, read_config
from .db import migrate
from .db.engine import Database
from .db.models import Actor, Event
from .errors import ActorError, ConfigError, CustodyError, PermissionDeniedError, WrongPassphraseError
from .log import checkpoints, events
from .log.events import LogEvent
from .store.base import BlobStore
from .store.local import LocalBlobStore

Passphrase = Callable[[str], str]
"""Asks for a passphrase; the argument says whose key it unlocks. An asker may carry ``interactive``
(True: asking again can help, see ``TRIES``) and ``source`` (where the passphrase came from, for messages)."""

TRIES = 3
"""Passphrases a person may type before a command gives up."""


def signing_key_path(cfg: ArchiveConfig, actor: str) -> Path:
    return cfg.keys_dir / f"{actor}.signing.pem"


def archive_key_path(cfg: ArchiveConfig, actor: str) -> Path:
    return cfg.keys_dir / f"{actor}.archive.pem"


def group_read(cfg: ArchiveConfig) -> bool:
    """True if the team's Unix group may read the catalog and blobs (``[store] group_read = true``)."""
    return cfg.store_options.get("group_read") is True


def open_store(cfg: ArchiveConfig) -> BlobStore:
    """The blob store the configuration names."""
    url = cfg.store_url
    if url.startswith("file:"):
        path = Path(url[len("file:") :])
        return LocalBlobStore(path if path.is_absolute() else cfg.root / path, group_read=group_read(cfg))
    if url.startswith("s3://"):
        from .store.s3 import S3BlobStore

        # Spool files hold evidence bytes briefly before upload: keep them inside the archive folder.
        spool = cfg.root / "spool"
        spool.mkdir(mode=0o700, exist_ok=True)
        return S3BlobStore.from_url(url, spool_dir=spool, **cfg.store_options)
    raise ConfigError(f"unsupported store URL '{url}' in {cfg.root}/custody.toml")


class Archive:
    """An open archive: configuration, catalog database and blob store."""

    def __init__(self, cfg: ArchiveConfig, db: Database, store: BlobStore) -> None:
        self.config = cfg
        self.db = db
        self.store = store
        self.notices: list[str] = []
        """Things the user should know that did not stop the command (e.g. a TSA that did not answer)."""

    @classmethod
    def open(cls, path: str | Path | None = None, *, check_schema: bool = True) -> Archive:
        """Open the archive at ``path`` (or ``CUSTODY_ARCHIVE``, or the current folder)."""
        root = Path(path).resolve() if path is not None else find_archive(None)
        cfg = read_config(root)
        db = Database(cfg.resolved_db_url())
        db.check_reachable()
        if check_schema and migrate.pending(db):
            raise ConfigError(
                f"the catalog of {root} is at migration {migrate.current_revision(db)}, "
                f"this custody needs {migrate.head_revision()}; run 'custody upgrade'"
            )
        return cls(cfg, db, open_store(cfg))

    def close(self) -> None:
        self.db.dispose()

    def actor(self, session: Session, name: str) -> Actor:
        """The registered actor ``name``; ActorError naming it otherwise."""
        row = session.get(Actor, name)
        if row is None:
            raise ActorError(
                f"unknown actor '{name}'; 'custody actor list' shows who is registered "
                "(pass --as NAME or set CUSTODY_ACTOR)"
            )
        return row

    def act(self, name: str, passphrase: Passphrase) -> Acting:
        """Act as ``name``: the actor must exist and not be revoked; keys are unlocked when first needed."""
        with self.db.read() as session:
            state = actor_state(session, self.actor(session, name))
        if state.revoked_seq is not None:
            raise PermissionDeniedError(
                f"actor '{name}' was revoked at event {state.revoked_seq}; nothing was done. "
                "An admin can register a new actor ('custody actor add')"
            )
        return Acting(self, state.name, state.role, state.key_id, passphrase)


@dataclass
class Acting:
    """One actor acting on one archive for the length of a command."""

    archive: Archive
    name: str
    role: str
    key_id: str
    _ask: Passphrase
    _passphrase: str | None = None
    _signer: keys.Signer | None = None
    _archive_signer: keys.Signer | None = None
    _archive_key_copy: Ed25519PrivateKey | None = None
    _agent: tuple[keys.SigningKey, keys.SigningKey] | tuple[()] | None = None
    appended: bool = field(default=False)

    def _open(self, path: Path) -> Ed25519PrivateKey:
        """Open the signing key: up to ``TRIES`` passphrases when they are typed, one from the environment."""
        for attempt in range(1, TRIES + 1):
            secret = self._secret()
            source = str(getattr(self._ask, "source", ""))
            try:
                return keys.load_private(path, secret, self.name, source)
            except WrongPassphraseError:
                self._passphrase = None
                if attempt == TRIES or not getattr(self._ask, "interactive", False):
                    raise
        raise AssertionError("unreachable")

    def _secret(self) -> str:
        if self._passphrase is None:
            self._passphrase = self._ask(self.name)
        return self._passphrase

    def use_key_files(self) -> None:
        """Ignore any unlock agent: keys come from their files (for ``custody unlock`` itself)."""
        self._agent = ()

    def _agent_keys(self) -> tuple[keys.SigningKey, keys.SigningKey] | None:
        """The actor's keys as a running unlock agent holds them (``custody unlock``), if one does."""
        if self._agent is None:
            from . import agent

            found = agent.connect(agent.socket_path(self.archive.config.root, self.name))
            # An agent unlocked before a rotation holds a retired key: the key file is used instead.
            stale = found is not None and keys.key_id(found[0].public_key()) != self.key_id
            self._agent = found if found is not None and not stale else ()
        return self._agent or None

    @property
    def signer(self) -> keys.Signer:
        """The actor's unlocked signing key: the unlock agent's, else the key file (asks for the passphrase)."""
        if self._signer is None:
            path = signing_key_path(self.archive.config, self.name)
            held = self._agent_keys()
            key: keys.SigningKey = held[0] if held is not None else self._open(path)
            if keys.key_id(key.public_key()) != self.key_id:
                raise ActorError(f"{path} does not hold the key registered for {self.name}; restore the right key file")
            self._signer = keys.Signer(self.name, key)
        return self._signer

    @property
    def archive_signer(self) -> keys.Signer:
        """The archive's checkpoint key, as this actor's copy unlocks it."""
        if self._archive_signer is None:
            path = archive_key_path(self.archive.config, self.name)
            key = self._archive_key()
            with self.archive.db.read() as session:
                identity = events.archive_identity(session)
            # A key other than event 0's would sign checkpoints that fail verification for good.
            if keys.key_id(key.public_key()) != identity.key_id:
                raise ConfigError(
                    f"{path} is not this archive's key (event 0 names archive key {identity.key_id[:16]}…); "
                    f"restore {self.name}'s copy of this archive's key. Nothing was signed"
                )
            if self.archive.config.origin != identity.origin:
                raise ConfigError(
                    f"{self.archive.config.root}/custody.toml names origin '{self.archive.config.origin}', "
                    f"but event 0 names '{identity.origin}'; restore the configuration. Nothing was signed"
                )
            self._archive_signer = keys.Signer(self.archive.config.origin, key)
        return self._archive_signer

    def _archive_key(self) -> keys.SigningKey:
        held = self._agent_keys()
        return held[1] if held is not None else self.archive_private_key()

    def archive_private_key(self) -> Ed25519PrivateKey:
        """This actor's copy of the archive key from its file (asks for the passphrase; never the agent's)."""
        if self._archive_key_copy is None:
            path = archive_key_path(self.archive.config, self.name)
            self._archive_key_copy = keys.load_private(path, self._secret(), f"{self.name} (archive key copy)")
        return self._archive_key_copy

    def unlock(self) -> None:
        """Unlock both keys now, so a wrong passphrase fails before any work starts."""
        _ = self.signer
        _ = self.archive_signer

    def unlock_for_reading(self) -> None:
        """Unlock both keys (the passphrase is checked) without asking the log who the archive is.

        For ``verify``: a damaged genesis must become a report, not an error before any check ran;
        the archive key is still checked against event 0 before it signs anything.
        """
        _ = self.signer
        self._archive_key()

    def require(self, permission: roles.Permission, item: str | None = None) -> None:
        """Refuse (and log the refusal) unless this actor's role grants ``permission``."""
        if roles.allows(self.role, permission):
            return
        self.unlock()
        with self.writing() as session:
            self.append(
                session,
                "refuse",
                {"attempted": permission.value, "role": self.role},
                item=item,
            )
        raise PermissionDeniedError(
            f"{self.name} (role {self.role}) may not {permission.value}"
            + (f" {item}" if item else "")
            + f"; it needs one of the roles: {', '.join(roles.roles_with(permission))}. "
            "The refusal was logged."
        )

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A write transaction; a checkpoint is signed before it commits if events were added.

        The TSA is never asked here: a command that merely appends (a view, an annotation) must not
        wait on a third party. ``checkpoint``, ``export`` and ``timestamp --pending`` stamp.
        """
        with self.archive.db.write() as session:
            self.appended = False
            yield session
            if self.appended:
                checkpoints.write(session, self.archive_signer, self.archive.config.origin, self.signer)

    def append(self, session: Session, action: str, payload: dict[str, Any], item: str | None = None) -> LogEvent:
        """Sign and append one event in the current write transaction."""
        event = events.append(session, self.signer, action, payload, item=item)
        self.appended = True
        return event

    def append_many(
        self,
        session: Session,
        entries: Sequence[tuple[str, dict[str, Any], str | None]],
        now: datetime | None = None,
    ) -> list[LogEvent]:
        """Sign and append events ``(action, payload, item)`` in order in the current write transaction.

        ``now``: their time (default: the current time).
        """
        appended = events.append_many(session, self.signer, entries, now)
        self.appended = self.appended or bool(appended)
        return appended


@dataclass(frozen=True)
class ActorState:
    """An actor as its actor.add and later actor.revoke / actor.rotate / actor.role events leave it."""

    name: str
    role: str
    key_id: str
    public_key_pem: str
    registered_seq: int
    revoked_seq: int | None
    display_name: str
    affiliation: str
    changes: tuple[int, ...]  # seqs of the lifecycle events applied


_LIFECYCLE = ("actor.revoke", "actor.rotate", "actor.role")


def actor_state(session: Session, row: Actor) -> ActorState:
    """Replay the lifecycle events naming ``row``'s actor onto its registration row."""
    from .canonical import parse

    role, key_id, pem, revoked = row.role, row.key_id, row.public_key_pem, None
    display_name = affiliation = ""
    added = session.scalar(select(Event.payload).where(Event.seq == row.created_seq))
    if added is not None:
        payload = parse(added)
        display_name, affiliation = str(payload.get("display_name", "")), str(payload.get("affiliation", ""))
    changes: list[int] = []
    query = select(Event.seq, Event.action, Event.payload).where(Event.action.in_(_LIFECYCLE)).order_by(Event.seq)
    for seq, action, text in session.execute(query):
        payload = parse(text)
        if payload.get("name") != row.name:
            continue
        changes.append(seq)
        if action == "actor.role":
            role = str(payload.get("role"))
        elif action == "actor.rotate":
            if _rotation_proven(payload, key_id, row.name):
                key_id, pem = str(payload.get("key_id")), str(payload.get("public_key"))
        else:
            revoked = seq
    return ActorState(row.name, role, key_id, pem, row.created_seq, revoked, display_name, affiliation, tuple(changes))


def _rotation_proven(payload: Mapping[str, object], old_key_id: str, name: str) -> bool:
    """True if an actor.rotate of ``old_key_id`` carries the new key's proof of possession (what verify requires)."""
    from .log.authority import rotation_statement

    try:
        public = keys.load_public_pem(str(payload["public_key"]), "actor.rotate")
        proof = keys.unb64(str(payload["possession"]))
    except (KeyError, ValueError, CustodyError):
        return False
    new_id = str(payload.get("key_id"))
    return (
        payload.get("old_key_id") == old_key_id
        and keys.key_id(public) == new_id
        and keys.verify_signature(public, proof, rotation_statement(name, old_key_id, new_id))
    )


def registered_actors(session: Session) -> list[Actor]:
    """All actors, by name."""
    return list(session.scalars(select(Actor).order_by(Actor.name)))
