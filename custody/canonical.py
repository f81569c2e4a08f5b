"""Canonical JSON (RFC 8785, JCS): the exact bytes every signature and hash covers.

``rfc8785`` (the maintained pure-Python implementation) defines the bytes. Most values custody signs
hold only objects with text keys, arrays, strings, booleans, null and integers that a double holds
exactly; for those the standard library's C encoder writes the same bytes several times faster, and
every other value (any float, an integer beyond 2**53 - 1, a key that is not text, a lone surrogate,
a character beyond U+FFFF) goes to ``rfc8785``. Why the fast path writes exactly JCS (RFC 8785
sections): strings (3.2.2.2) are escaped as ECMAScript's JSON.stringify does, which is what ``json``
does without ASCII escaping (``"`` ``\\`` and U+0000..U+001F only, short forms for \\b \\f \\n \\r \\t,
else lowercase \\u00xx); integers (3.2.2.3) in the safe range print as their decimal digits in both;
members are sorted (3.2.3) by UTF-16 code units, which is code point order as long as no character
is beyond U+FFFF. tests/test_canonical.py checks the two against each other with hypothesis.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import rfc8785

_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), check_circular=False).encode
_SAFE = 2**53 - 1  # RFC 8785 3.2.2.3: an integer beyond this has no exact IEEE 754 double
_BEYOND_BMP = re.compile(rb"[\xf0-\xf4]")  # the lead byte of every 4-byte UTF-8 sequence (U+10000 and up)


def canonical(obj: Any) -> bytes:
    """Return the RFC 8785 canonical encoding of a JSON-compatible value.

    Raises:
        ValueError: ``obj`` has no canonical form (a NaN or infinity, an integer beyond 2**53 - 1, a key
            that is not text, a lone surrogate; ``rfc8785.CanonicalizationError``).
        RecursionError: ``obj`` contains itself or is nested too deeply.
    """
    if _plain(obj):
        try:
            data = _ENCODE(obj).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: rfc8785 says why it has no canonical form
            return rfc8785.dumps(obj)
        if data.isascii() or _BEYOND_BMP.search(data) is None:
            return data
    return rfc8785.dumps(obj)


def _plain(obj: object) -> bool:
    """True if ``obj`` holds only text-keyed dicts, lists, tuples, strings, booleans, None and integers in
    JCS's exact range, of exactly those types (a subclass, say an enum, goes the general way)."""
    values: Iterable[object]
    if type(obj) is dict:
        if not all(type(key) is str for key in obj):
            return False
        values = obj.values()
    elif type(obj) is list or type(obj) is tuple:
        values = obj
    else:
        return _plain_scalar(obj)
    for value in values:
        kind = type(value)
        if kind is str or value is None or kind is bool:
            continue
        if kind is int:
            if -_SAFE <= value <= _SAFE:
                continue
            return False
        if not _plain(value):
            return False
    return True


def _plain_scalar(obj: object) -> bool:
    if type(obj) is int:
        return -_SAFE <= obj <= _SAFE
    return type(obj) is str or obj is None or type(obj) is bool


def canonical_text(obj: object) -> str:
    """Canonical JSON as text, for storage in a text column."""
    return canonical(obj).decode("utf-8")


def parse(text: str | bytes) -> Any:
    """Parse JSON text stored or received by custody; ValueError if it is not JSON (or nested too deep to parse)."""
    try:
        return json.loads(text)
    except RecursionError:
        # A forged row or a hostile file of 100,000 nested brackets: malformed input, as its callers handle it.
        raise ValueError("JSON nested too deeply") from None
