"""Creating a new archive: folder, configuration, migrated catalog, store, keys, first admin."""

from __future__ import annotations

import getpass
import os
import re
import shutil
import uuid
from pathlib import Path

from . import keys
from .archive import Archive, Passphrase, archive_key_path, group_read, open_store, signing_key_path
from .config import CONFIG_NAME, ArchiveConfig, write_config
from .db import migrate
from .db.engine import Database
from .db.models import Actor
from .errors import ActorError, ArchiveExistsError, ConfigError
from .log import checkpoints, events, note
from .roles import Role
from .timestamp import timestamp_checkpoint
from .timestamp.settings import check_url, install_ca
from .timestamp.tsa import load_roots

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_actor_name(name: str) -> str:
    """Actor names become file names and log fields: letters, digits, '.', '_', '-'."""
    if not _NAME.match(name):
        raise ActorError(f"'{name}' is not a valid actor name; use 1-64 letters, digits, '.', '_' or '-'")
    return name


def _restrict(cfg: ArchiveConfig) -> None:
    """Nobody outside the owner (and, with group_read, the team's group) reads the archive folder or catalog."""
    team = group_read(cfg)
    os.chmod(cfg.root, 0o750 if team else 0o700)
    keys.ensure_private_dir(cfg.keys_dir)
    for name in ("custody.db", "custody.db-wal", "custody.db-shm", CONFIG_NAME):
        path = cfg.root / name
        if path.exists():
            os.chmod(path, 0o640 if team else 0o600)


def default_actor() -> str:
    """The OS user, which ``init`` registers as admin unless told otherwise."""
    return getpass.getuser()


def init_archive(
    path: Path,
    admin: str,
    passphrase: Passphrase,
    db_url: str | None = None,
    store_url: str | None = None,
    organization: str = "",
    store_options: dict[str, object] | None = None,
    revision: str = "head",
    tsa_url: str | None = None,
    tsa_ca: Path | None = None,
) -> Archive:
    """Create an archive at ``path`` and register ``admin``; refuses an existing archive.

    With ``tsa_url`` the archive's checkpoints are timestamped by that RFC 3161 authority.

    Raises:
        ArchiveExistsError: the folder already holds an archive.
        ConfigError: a database URL, store URL or TSA setting that cannot be used.
        InputError: a weak passphrase or a bad actor name.
    """
    check_actor_name(admin)
    if tsa_ca is not None and tsa_url is None:
        raise ConfigError("--tsa-ca needs --tsa-url: say which time-stamp authority the CA is for")
    if tsa_url is not None:
        check_url(tsa_url)
    if tsa_ca is not None:
        load_roots(tsa_ca)
    root = path.resolve()
    if (root / CONFIG_NAME).exists():
        raise ArchiveExistsError(f"{root} already holds an archive ({CONFIG_NAME}); choose another folder")
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root} exists and is not a folder; choose another path")
    if root.exists() and any(p.name in {"custody.db", "store", "keys"} for p in root.iterdir()):
        raise ArchiveExistsError(
            f"{root} already holds archive files (custody.db, store or keys); choose an empty folder"
        )
    secret = passphrase(admin)
    keys.check_passphrase(secret, admin)
    archive_id = str(uuid.uuid4())
    cfg = ArchiveConfig(
        root=root,
        archive_id=archive_id,
        origin=f"custody.archive/{archive_id}",
        db_url=db_url or "sqlite:///custody.db",
        store_url=store_url or "file:store",
        organization=organization,
        store_options=dict(store_options or {}),
        tsa={"url": tsa_url} if tsa_url else {},
    )
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        db = Database(cfg.resolved_db_url())
        db.check_reachable()
        if migrate.current_revision(db) is not None:
            raise ArchiveExistsError(
                f"the database {db.safe_url()} already holds a custody catalog; use an empty database"
            )
        if tsa_ca is not None:
            cfg.tsa["ca"] = install_ca(root, tsa_ca)
        store = open_store(cfg)
        check = getattr(store, "check_bucket", None)
        if check is not None:
            check()
        migrate.upgrade(db, revision)
        archive_key = keys.generate()
        admin_key = keys.generate()
        salt = keys.new_salt()  # one derivation opens both
        keys.save_private(archive_key_path(cfg, admin), archive_key, secret, salt=salt)
        keys.save_private(signing_key_path(cfg, admin), admin_key, secret, salt=salt)
        (cfg.keys_dir / "archive.pub.pem").write_text(keys.public_pem(archive_key.public_key()))
        signer = keys.Signer(admin, admin_key)
        with db.write() as session:
            events.append(
                session,
                signer,
                "archive.init",
                {
                    "archive_id": archive_id,
                    "origin": cfg.origin,
                    "archive_key_id": keys.key_id(archive_key.public_key()),
                    "archive_public_key": keys.public_pem(archive_key.public_key()),
                    "vkey": note.vkey(cfg.origin, archive_key.public_key()),
                },
            )
            event = events.append(
                session,
                signer,
                "actor.add",
                {
                    "name": admin,
                    "role": Role.ADMIN.value,
                    "key_id": signer.key_id,
                    "public_key": keys.public_pem(signer.public_key),
                },
            )
            session.add(
                Actor(
                    name=admin,
                    role=Role.ADMIN.value,
                    key_id=signer.key_id,
                    public_key_pem=keys.public_pem(signer.public_key),
                    created_seq=event.seq,
                )
            )
            first = checkpoints.write(session, keys.Signer(cfg.origin, archive_key), cfg.origin, signer)
            first_num = first.num if first is not None else None
        write_config(cfg)
        _restrict(cfg)
    except BaseException:
        # Leave no half-made archive behind: only files this call created are removed.
        for leftover in ("custody.db", "custody.db-wal", "custody.db-shm", "store", "keys", "spool", "tsa"):
            target = root / leftover
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
        if created:
            shutil.rmtree(root, ignore_errors=True)
        raise
    archive = Archive(cfg, db, store)
    timestamp_checkpoint(archive, first_num)
    return archive
