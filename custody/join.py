"""Joining a shared archive from another machine: write only the local configuration."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from .archive import Archive, open_store
from .canonical import parse
from .config import CONFIG_NAME, ArchiveConfig, write_config
from .db import migrate
from .db.engine import Database
from .db.models import Event
from .errors import ArchiveExistsError, ConfigError, IntegrityError
from .log.events import archive_identity


def join_archive(path: Path, db_url: str, store_url: str, store_options: dict[str, object] | None = None) -> Archive:
    """Point a local folder at an existing shared catalog and store; keys stay with each actor.

    Raises:
        ArchiveExistsError: the folder already holds an archive.
        ConfigError: the shared database or store cannot be reached or holds no archive.
        IntegrityError: the archive's genesis does not verify.
    """
    root = path.resolve()
    if (root / CONFIG_NAME).exists():
        raise ArchiveExistsError(f"{root} already holds an archive configuration; choose another folder")
    db = Database(db_url)
    db.check_reachable()
    if migrate.current_revision(db) is None:
        raise ConfigError(f"{db.safe_url()} holds no custody catalog; create one with 'custody init'")
    with db.read() as session:
        genesis = session.scalars(select(Event).where(Event.seq == 0)).first()
        if genesis is None or genesis.action != "archive.init":
            raise ConfigError(f"{db.safe_url()} has no archive.init event; it is not a usable custody catalog")
        try:
            # The origin this machine will sign checkpoints under comes from the verified genesis only.
            identity = archive_identity(session)
        except IntegrityError as exc:
            raise ConfigError(f"{db.safe_url()}: the archive's genesis does not verify ({exc})") from None
    payload = parse(genesis.payload)
    cfg = ArchiveConfig(
        root=root,
        archive_id=str(payload["archive_id"]),
        origin=identity.origin,
        db_url=db_url,
        store_url=store_url,
        store_options=dict(store_options or {}),
    )
    root.mkdir(parents=True, exist_ok=True)
    store = open_store(cfg)
    check = getattr(store, "check_bucket", None)
    if check is not None:
        check()
    cfg.keys_dir.mkdir(exist_ok=True)
    (cfg.keys_dir / "archive.pub.pem").write_text(str(payload["archive_public_key"]))
    write_config(cfg)
    return Archive(cfg, db, store)
