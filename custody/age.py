"""age (age-encryption.org) keys given by users: recipients to encrypt to, identity files to decrypt with.

Bundles (``export --recipient``, ``import --identity``) and key backups (``actor backup``/``restore``) use them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import InputError


def age_recipients(texts: Sequence[str]) -> list[Any]:
    """The age X25519 recipients named by ``texts`` (``age1...`` public keys).

    Raises:
        InputError: naming the first text that is not an age X25519 public key.
    """
    import pyrage

    result = []
    for text in texts:
        try:
            result.append(pyrage.x25519.Recipient.from_str(text.strip()))
        except Exception:
            raise InputError(f"--recipient '{text}' is not an age X25519 public key (age1...)") from None
    return result


def age_identities(identity: Path) -> list[Any]:
    """The X25519 identities of an age identity file (its AGE-SECRET-KEY lines).

    Raises:
        InputError: naming the file, when it is unreadable or holds no usable identity.
    """
    import pyrage

    try:
        lines = [ln.strip() for ln in identity.read_text().splitlines() if ln.strip().startswith("AGE-SECRET-KEY-")]
        identities = [pyrage.x25519.Identity.from_str(line) for line in lines]
    except (OSError, ValueError, pyrage.IdentityError) as exc:
        raise InputError(f"{identity}: not an age identity file ({exc})") from None
    if not identities:
        raise InputError(f"{identity}: holds no AGE-SECRET-KEY line")
    return identities
