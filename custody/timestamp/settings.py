"""The archive's time-stamp authority, as ``custody.toml`` names it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from ..config import ArchiveConfig
from ..errors import ConfigError
from .tsa import load_roots

DEFAULT_TIMEOUT_S = 5.0
"""The most a command waits on the TSA in all (``tsa.timeout``); evidence never waits longer on a third party."""
DEFAULT_BACKOFF_S = 300.0
"""After a failure, checkpoint and export do not ask the TSA again for this long (``tsa.backoff``)."""


@dataclass(frozen=True)
class TsaSettings:
    """Where to ask for tokens, which root to trust, and how long to wait."""

    url: str
    ca: Path | None
    timeout: float
    backoff: float = DEFAULT_BACKOFF_S

    def roots(self) -> list[x509.Certificate] | None:
        """The configured TSA root certificate(s), or None when no CA was configured."""
        return load_roots(self.ca) if self.ca is not None else None


def tsa_settings(cfg: ArchiveConfig) -> TsaSettings | None:
    """The configured TSA, or None when the archive has none."""
    url = cfg.tsa.get("url")
    if not url:
        return None
    ca = cfg.tsa.get("ca")
    seconds = {}
    for key, default in (("timeout", DEFAULT_TIMEOUT_S), ("backoff", DEFAULT_BACKOFF_S)):
        try:
            seconds[key] = float(cfg.tsa.get(key, default))
        except (TypeError, ValueError):
            raise ConfigError(f"{cfg.root}/custody.toml: tsa.{key} must be a number of seconds") from None
    return TsaSettings(
        url=str(url), ca=(cfg.root / str(ca)) if ca else None, timeout=seconds["timeout"], backoff=seconds["backoff"]
    )


def check_url(url: str) -> str:
    """A TSA URL must be http(s); RFC 3161 over HTTP is how public TSAs are reached."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"TSA URL '{url}' must start with http:// or https://")
    return url


def install_ca(root: Path, pem: Path) -> str:
    """Copy a TSA root certificate file into the archive folder; returns its path relative to ``root``.

    Copies are named by content digest so a later CA never overwrites the one older tokens chain to.
    """
    import hashlib

    from ..fileutil import atomic_write

    load_roots(pem)
    data = pem.read_bytes()
    folder = root / "tsa"
    folder.mkdir(exist_ok=True)
    name = f"ca-{hashlib.sha256(data).hexdigest()[:16]}.pem"
    target = folder / name
    if not target.exists():
        atomic_write(target, data)
    return f"tsa/{name}"
