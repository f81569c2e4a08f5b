"""What a full walk of the custody log established, as the catalog checks read it (pure: no database)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import merkle
from .authority import Authority, Identity, KeyInfo
from .logevent import LogEvent


@dataclass
class LogState:
    """What a full walk of the log established."""

    authority: Authority
    size: int = 0
    roots: dict[int, bytes] = field(default_factory=dict)  # tree size -> root, for sizes asked
    root: bytes = merkle.EMPTY_ROOT
    events_by_action: dict[str, list[LogEvent]] = field(default_factory=dict)
    """The parsed events of the catalog-relevant actions (``CATALOG_ACTIONS``), in seq order."""

    @property
    def keys(self) -> dict[str, KeyInfo]:
        """Registered key id -> who holds it, as the log's actor.add events say."""
        return self.authority.keys

    @property
    def identity(self) -> Identity | None:
        """The archive identity of event 0, once its signature verified."""
        return self.authority.identity

    @property
    def vkey(self) -> str | None:
        return self.identity.vkey if self.identity is not None else None

    @property
    def ingest_records(self) -> dict[str, str]:
        """item id -> record_sha256 of the ingest event that binds its record."""
        return {item: sha for item, (_signer, sha) in self.authority.ingests.items()}
