"""Where custody's own files are: the Alembic migrations and the JSON Schemas.

An installed custody (a wheel, ``pipx install``) carries them as the packages ``custody._alembic``
and ``custody._schemas`` (pyproject.toml maps the repository's top-level ``alembic/`` and
``schemas/`` folders to those names); an editable install finds the same names through its
mapping. Only a checkout used without any install falls back to the folders beside ``custody/``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1]


def _folder(package: str, checkout_name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if Path(location).is_dir():
                return Path(location)
    return _CHECKOUT / checkout_name


def migrations_folder() -> Path:
    """The Alembic script folder (``env.py``, ``versions/``)."""
    return _folder("custody._alembic", "alembic")


def schemas_folder() -> Path:
    """The folder of JSON Schemas of everything that leaves the archive."""
    return _folder("custody._schemas", "schemas")
