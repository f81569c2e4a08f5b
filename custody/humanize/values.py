"""Values for people: sizes, durations, coordinates, digests, actor names and any JSON value in plain words.

Never a Python repr of a dict or list; control characters in data are shown escaped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from .times import stated, utc


def _decimal(n: int) -> str:
    """``200.0 kB``: ``n`` (1000 or more) bytes in the largest decimal unit below 1000 of it (PB at most)."""
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} PB"


def size(n: int | None) -> str:
    """``200,000 bytes (200.0 kB)``: exact bytes first, decimal units for reading."""
    if n is None:
        return ""
    return f"{n:,} bytes" if n < 1000 else f"{n:,} bytes ({_decimal(n)})"


def short_size(n: int | None) -> str:
    """``200.0 kB`` (or ``12 bytes``) for narrow table columns."""
    if n is None:
        return ""
    return f"{n} bytes" if n < 1000 else _decimal(n)


def duration(seconds: float | None) -> str:
    """``1 min 05 s`` / ``12.4 s``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {rest:02d} s" if hours else f"{minutes} min {rest:02d} s"


def _degrees(value: float, positive: str, negative: str) -> str:
    return f"{abs(value):.6f}° {positive if value >= 0 else negative}"


def coordinates(location: Mapping[str, object]) -> str:
    """``47.838800° N, 35.139600° E, altitude 98.0 m``; empty when latitude or longitude is missing."""
    lat, lon = _number(location.get("latitude")), _number(location.get("longitude"))
    if lat is None or lon is None:
        return ""
    text = f"{_degrees(lat, 'N', 'S')}, {_degrees(lon, 'E', 'W')}"
    altitude = _number(location.get("altitude"))
    if altitude is not None:
        text += f", altitude {altitude:.1f} m"
    return text


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def short_hash(digest: str | None, n: int = 16) -> str:
    """The first ``n`` hex digits of a digest (enough to find it; the full value is printed elsewhere)."""
    return "" if not digest else digest[:n]


def actor(key_id: str | None, names: Mapping[str, str]) -> str:
    """The registered name behind a key id, or ``unregistered key <first 12 hex>``."""
    if not key_id:
        return ""
    name = names.get(key_id)
    return name if name else f"unregistered key {key_id[:12]}"


def actor_with_key(key_id: str | None, names: Mapping[str, str]) -> str:
    """``bob (key 3f2a9c01b7d4…)``."""
    if not key_id:
        return ""
    name = names.get(key_id)
    return f"{name} (key {key_id[:12]}…)" if name else f"unregistered key {key_id[:12]}…"


def printable(value: str) -> str:
    """``value`` with control and format characters shown as escapes (``\\x1b``, ``\\u202e``), line breaks kept.

    A file name or note may hold terminal escape sequences or bidirectional overrides; shown raw they
    would recolour a terminal or reorder what a reader sees.
    """
    if value.isprintable():
        return value
    out = []
    for ch in value:
        if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def text(value: object) -> str:
    """Any JSON value in plain words: ``a: 1; b: x`` for objects, ``x, y`` for lists; never a Python repr.

    Control characters in strings are shown escaped (``printable``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return "; ".join(f"{str(k).replace('_', ' ')}: {text(v)}" for k, v in value.items() if v not in (None, ""))
    if isinstance(value, list | tuple):
        return ", ".join(text(v) for v in value)
    return printable(str(value))


def device(value: object) -> str:
    """``Samsung SM-A525F (software A525FXXS7FWK1)`` from a make/model/software mapping (or a plain text)."""
    if not isinstance(value, Mapping):
        return text(value)
    make, model = str(value.get("make") or "").strip(), str(value.get("model") or "").strip()
    if make and model.lower().startswith(make.lower()):
        make = ""
    name = " ".join(p for p in (make, model) if p)
    extra = {k: v for k, v in value.items() if k not in {"make", "model"} and v not in (None, "")}
    if extra:
        return f"{name} ({text(extra)})" if name else text(extra)
    return name


_KEY_ID = re.compile(r"\b[0-9a-f]{64}\b")
_ISO_TIME = re.compile(r"\b(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)")


def readable(message: str, names: Mapping[str, str]) -> str:
    """A library message for people: registered key ids followed by their names, ISO times in seconds."""

    def key(match: re.Match[str]) -> str:
        name = names.get(match.group(0))
        return f"{name} (key {match.group(0)[:12]}…)" if name else match.group(0)

    def when(match: re.Match[str]) -> str:
        return utc(match.group(0)) if match.group(3) in ("Z", "+00:00") else stated(match.group(0))

    return _ISO_TIME.sub(when, _KEY_ID.sub(key, message))
