"""The archive folder's ``custody.toml``: where the catalog and the store live."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from .errors import ConfigError, NoArchiveError
from .fileutil import atomic_write

CONFIG_NAME = "custody.toml"

# The settings `custody config set` manages, with what each means.
SETTINGS: dict[str, str] = {
    "tsa.url": "RFC 3161 time-stamp authority URL; checkpoints and bundle seals get tokens from it",
    "tsa.ca": "PEM file with the TSA's root CA certificate (copied into the archive folder)",
    "tsa.timeout": "seconds a command may wait on the TSA in all before going on untimestamped (default 5)",
    "tsa.backoff": "seconds checkpoint and export do not ask a TSA again after it failed (default 300)",
    "organization": "organisation named as Source-Organization in bundles",
    "keys.min_length": "fewest characters a new key passphrase may have (8-128, default 12)",
    "keys.min_score": "lowest zxcvbn strength (0-4, default 3) a new key passphrase may have",
    "export.approvals": "approvals by other actors every export needs before it can be sealed (0 = none)",
    "disclosure.withhold": "fields every export withholds unless --withhold says otherwise (comma-separated)",
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
    keys: dict[str, int] = field(default_factory=dict)
    disclosure: dict[str, Any] = field(default_factory=dict)
    export: dict[str, Any] = field(default_factory=dict)
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
    if cfg.keys:
        doc["keys"] = cfg.keys
    if cfg.disclosure:
        doc["disclosure"] = cfg.disclosure
    if cfg.export:
        doc["export"] = cfg.export
    atomic_write(cfg.root / CONFIG_NAME, tomli_w.dumps(doc).encode("utf-8"))


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
            keys={k: int(v) for k, v in dict(doc.get("keys", {})).items()},
            disclosure=dict(doc.get("disclosure", {})),
            export=dict(doc.get("export", {})),
            timezone=str(doc["archive"].get("timezone", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: missing or malformed setting {exc}; restore it from a backup") from None


def find_archive(explicit: str | None) -> Path:
    """The archive folder: ``--archive``, else ``CUSTODY_ARCHIVE``, else the current folder.

    Raises:
        NoArchiveError: neither the path, CUSTODY_ARCHIVE nor the current folder holds custody.toml.
    """
    chosen = explicit or os.environ.get("CUSTODY_ARCHIVE")
    if chosen:
        return Path(chosen).expanduser().resolve()
    cwd = Path.cwd()
    if (cwd / CONFIG_NAME).is_file():
        return cwd
    raise NoArchiveError("no archive given: pass --archive PATH, set CUSTODY_ARCHIVE, or run in an archive folder")
