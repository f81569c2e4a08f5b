"""Formatting for people: times, sizes, coordinates, actor names, events and values in plain words.

One package serves the report (HTML/PDF) and the CLI's tables, so a time or a key reads the same everywhere.
Nothing here prints; every function returns text and never a Python repr of a dict or list. By subject:
``times``, ``values`` (sizes, places, actors, any JSON value), ``labels`` (flag codes, provenance fields)
and ``events`` (actions and what each event did); callers use them through this package.
"""

from __future__ import annotations

from .events import ACTION_WORDS, action, describe_event, items_named
from .labels import FLAG_WORDS, PROVENANCE_LABELS, TIME_FIELDS, flag
from .times import local, parse_time, stated, utc, utc_and_local, zone
from .values import (
    actor,
    actor_with_key,
    coordinates,
    device,
    duration,
    printable,
    readable,
    short_hash,
    short_size,
    size,
    text,
)

__all__ = [
    "ACTION_WORDS",
    "FLAG_WORDS",
    "PROVENANCE_LABELS",
    "TIME_FIELDS",
    "action",
    "actor",
    "actor_with_key",
    "coordinates",
    "describe_event",
    "device",
    "duration",
    "flag",
    "items_named",
    "local",
    "parse_time",
    "printable",
    "readable",
    "short_hash",
    "short_size",
    "size",
    "stated",
    "text",
    "utc",
    "utc_and_local",
    "zone",
]
