"""Canonical JSON (RFC 8785, JCS): the exact bytes every signature and hash covers."""

from __future__ import annotations

import json
from typing import Any

import rfc8785


def canonical(obj: Any) -> bytes:
    """Return the RFC 8785 canonical encoding of a JSON-compatible value."""
    return rfc8785.dumps(obj)


def canonical_text(obj: object) -> str:
    """Canonical JSON as text, for storage in a text column."""
    return canonical(obj).decode("utf-8")


def parse(text: str | bytes) -> Any:
    """Parse JSON text stored or received by custody."""
    return json.loads(text)
