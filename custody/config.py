"""The archive folder's ``custody.toml``: where the catalog and the store live."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

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


class _Table:
    """One table of ``custody.toml`` as read, so that every error names the file and the key."""

    def __init__(self, path: Path, name: str, doc: Mapping[str, object], required: bool = False) -> None:
        self.path = path
        self.name = name
        found = doc.get(name)
        if found is None and not required:
            found = {}
        if not isinstance(found, Mapping):
            raise ConfigError(f"{path}: [{name}] is missing or not a table; restore it from a backup")
        self.values: Mapping[str, object] = found

    def _bad(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.path}: {self.name}.{key} must be {what}; fix it or restore it from a backup")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.values.get(key, default)
        if not isinstance(value, str):
            raise self._bad(key, "a string")
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if key in self.values else None

    def number(self, key: str) -> float | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self._bad(key, "a number")
        return float(value)

    def whole(self, key: str) -> int | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._bad(key, "a whole number")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.values.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(key, "a list of strings")
        return tuple(value)


@dataclass(frozen=True)
class TsaSection:
    """``[tsa]``: the RFC 3161 time-stamp authority (custody.timestamp.settings reads it)."""

    url: str | None = None
    ca: str | None = None  # relative to the archive folder
    timeout: float | None = None
    backoff: float | None = None

    def to_toml(self) -> dict[str, object]:
        stated = {"url": self.url, "ca": self.ca, "timeout": self.timeout, "backoff": self.backoff}
        return {k: v for k, v in stated.items() if v is not None}

    @classmethod
    def read(cls, table: _Table) -> TsaSection:
        return cls(table.optional_text("url"), table.optional_text("ca"), table.number("timeout"),
                   table.number("backoff"))  # fmt: skip


@dataclass(frozen=True)
class KeysSection:
    """``[keys]``: the passphrase policy for new keys (custody.keys.policy_of); None means the default."""

    min_length: int | None = None
    min_score: int | None = None

    def to_toml(self) -> dict[str, object]:
        stated = {"min_length": self.min_length, "min_score": self.min_score}
        return {k: v for k, v in stated.items() if v is not None}

    @classmethod
    def read(cls, table: _Table) -> KeysSection:
        return cls(table.whole("min_length"), table.whole("min_score"))


@dataclass(frozen=True)
class ExportSection:
    """``[export]``: approvals by other actors every export needs (0 = none)."""

    approvals: int = 0

    def to_toml(self) -> dict[str, object]:
        return {"approvals": self.approvals} if self.approvals else {}

    @classmethod
    def read(cls, table: _Table) -> ExportSection:
        return cls(table.whole("approvals") or 0)


@dataclass(frozen=True)
class DisclosureSection:
    """``[disclosure]``: the fields every export withholds unless told otherwise."""

    withhold: tuple[str, ...] = ()

    def to_toml(self) -> dict[str, object]:
        return {"withhold": list(self.withhold)} if self.withhold else {}

    @classmethod
    def read(cls, table: _Table) -> DisclosureSection:
        return cls(table.texts("withhold"))


@dataclass(frozen=True)
class ArchiveConfig:
    """Settings of one archive, as written by ``init`` or ``join``.

    ``[archive]`` gives archive_id, origin, organization and timezone; ``[database]`` db_url; ``[store]``
    store_url and, as store_options, the store's other keys (passed on to the store); the other tables are
    typed sections.
    """

    root: Path
    archive_id: str
    origin: str
    db_url: str
    store_url: str
    store_options: Mapping[str, object] = field(default_factory=dict)
    tsa: TsaSection = TsaSection()
    organization: str = ""
    keys: KeysSection = KeysSection()
    disclosure: DisclosureSection = DisclosureSection()
    export: ExportSection = ExportSection()
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
    archive: dict[str, object] = {"id": cfg.archive_id, "origin": cfg.origin, "organization": cfg.organization}
    if cfg.timezone:
        archive["timezone"] = cfg.timezone
    doc: dict[str, object] = {
        "archive": archive,
        "database": {"url": cfg.db_url},
        "store": {"url": cfg.store_url, **cfg.store_options},
    }
    sections = (
        ("tsa", cfg.tsa.to_toml()),
        ("keys", cfg.keys.to_toml()),
        ("disclosure", cfg.disclosure.to_toml()),
        ("export", cfg.export.to_toml()),
    )
    for name, stated in sections:
        if stated:
            doc[name] = stated
    atomic_write(cfg.root / CONFIG_NAME, tomli_w.dumps(doc).encode("utf-8"))


def read_config(root: Path) -> ArchiveConfig:
    """Read the archive at ``root``.

    Raises:
        NoArchiveError: there is no custody.toml at ``root``.
        ConfigError: it is not TOML, or a setting is missing or of the wrong type (the file and key named).
    """
    path = root / CONFIG_NAME
    try:
        doc = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise NoArchiveError(
            f"no archive at {root} (no {CONFIG_NAME}); run 'custody init {root}' or pass --archive"
        ) from None
    except NotADirectoryError:  # --archive given a file (a bundle, say) rather than the archive's folder
        raise NoArchiveError(f"no archive at {root}: it is a file, not a folder; pass --archive FOLDER") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); restore it from a backup") from None
    archive = _Table(path, "archive", doc, required=True)
    store = _Table(path, "store", doc, required=True)
    return ArchiveConfig(
        root=root.resolve(),
        archive_id=archive.text("id"),
        origin=archive.text("origin"),
        db_url=_Table(path, "database", doc, required=True).text("url"),
        store_url=store.text("url"),
        store_options={k: v for k, v in store.values.items() if k != "url"},
        tsa=TsaSection.read(_Table(path, "tsa", doc)),
        organization=archive.text("organization", ""),
        keys=KeysSection.read(_Table(path, "keys", doc)),
        disclosure=DisclosureSection.read(_Table(path, "disclosure", doc)),
        export=ExportSection.read(_Table(path, "export", doc)),
        timezone=archive.text("timezone", ""),
    )


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
