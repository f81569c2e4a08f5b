"""Files shipped verbatim in every bundle: the standalone verifier and the format specification."""

from __future__ import annotations

from importlib.resources import files

VERIFIER = "verify_bundle.py"
FORMATS = "FORMATS.md"


def read(name: str) -> bytes:
    """The bytes of one shipped file (``VERIFIER`` or ``FORMATS``)."""
    return files(__package__).joinpath(name).read_bytes()
