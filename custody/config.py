"""The archive folder's ``custody.toml``: where the catalog and the store live."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from .errors import ConfigError, NoArchiveError

CONFIG_NAME = "custody.toml"

# The settings `custody config set` manages, with what each means.
SETTINGS: dict[str, str] = {
    "tsa.url": "RFC 3161 time-stamp authority URL; checkpoints and bundle seals get tokens from it",
    "tsa.ca": "PEM file with the TSA's root CA certificate (copied into the archive folder)",
    "tsa.timeout": "seconds a command may wait on the TSA in all before going on untimestamped (default 5)",
    "tsa.backoff": "seconds checkpoint and export do not ask a TSA again after it failed (default 300)",
    "organization": "organisation named as Source-Organization in bundles",
    "timezone": "IANA time zone (e.g. Europe/Kyiv) reports show beside UTC",
}


@dataclass(frozen=True)
class ArchiveConfig:
    """Settings of one archive, as written by ``init`` or ``join``."""

    root: Path
    archive_id: str
    origin: str
    db_url: str
    store_url: str
    store_options: dict[str, Any] = field(default_factory=dict)
    tsa: dict[str, Any] = field(default_factory=dict)
    organization: str = ""
    timezone: str = ""

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    def resolved_db_url(self) -> str:
        """The database URL with a relative SQLite path anchored at the archive folder."""
        prefix = "sqlite:///"
        if self.db_url.startswith(prefix) and not self.db_url.startswith(prefix + "/"):
            return prefix + str(self.root / self.db_url[len(prefix) :])
        return self.db_url


def write_config(cfg: ArchiveConfig) -> None:
    """Write ``custody.toml`` atomically."""
    doc: dict[str, Any] = {
        "archive": {"id": cfg.archive_id, "origin": cfg.origin, "organization": cfg.organization},
        "database": {"url": cfg.db_url},
        "store": {"url": cfg.store_url, **cfg.store_options},
    }
    if cfg.timezone:
        doc["archive"]["timezone"] = cfg.timezone
    if cfg.tsa:
        doc["tsa"] = cfg.tsa
    path = cfg.root / CONFIG_NAME
    tmp = path.with_name(CONFIG_NAME + ".tmp")
    tmp.write_bytes(tomli_w.dumps(doc).encode("utf-8"))
    os.replace(tmp, path)


def read_config(root: Path) -> ArchiveConfig:
    """Read the archive at ``root``; NoArchiveError if there is none."""
    path = root / CONFIG_NAME
    try:
        doc = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise NoArchiveError(
            f"no archive at {root} (no {CONFIG_NAME}); run 'custody init {root}' or pass --archive"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); restore it from a backup") from None
    try:
        store = dict(doc["store"])
        return ArchiveConfig(
            root=root.resolve(),
            archive_id=str(doc["archive"]["id"]),
            origin=str(doc["archive"]["origin"]),
            db_url=str(doc["database"]["url"]),
            store_url=str(store.pop("url")),
            store_options=store,
            tsa=dict(doc.get("tsa", {})),
            organization=str(doc["archive"].get("organization", "")),
            timezone=str(doc["archive"].get("timezone", "")),
        )
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: missing setting {exc}; restore it from a backup") from None


def find_archive(explicit: str | None) -> Path:
    """The archive folder: ``--archive``, else ``CUSTODY_ARCHIVE``, else the current folder."""
    chosen = explicit or os.environ.get("CUSTODY_ARCHIVE")
    if chosen:
        return Path(chosen).expanduser().resolve()
    cwd = Path.cwd()
    if (cwd / CONFIG_NAME).is_file():
        return cwd
    raise NoArchiveError("no archive given: pass --archive PATH, set CUSTODY_ARCHIVE, or run in an archive folder")
