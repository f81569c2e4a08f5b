"""custody.canonical writes exactly the bytes of the rfc8785 library, or refuses exactly what it refuses."""

from __future__ import annotations

import collections
import enum
import sys
import types
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.canonical import canonical

# Every character, lone surrogates and characters beyond U+FFFF included.
_ANY_TEXT = st.text(alphabet=st.characters(codec=None, categories=None), max_size=12)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.integers(min_value=-(2**53) - 2, max_value=-(2**53) + 2),
    st.integers(min_value=2**53 - 2, max_value=2**53 + 2),
    st.floats(allow_nan=True, allow_infinity=True),
    _ANY_TEXT,
    st.text(max_size=12),
)
_KEYS = st.one_of(_ANY_TEXT, st.text(max_size=6), st.integers(min_value=0, max_value=9))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=4),
    ),
    max_leaves=20,
)


def _reference(value: object) -> bytes | type[BaseException]:
    try:
        return rfc8785.dumps(value)  # type: ignore[arg-type]
    except ValueError:
        return ValueError


def _ours(value: object) -> bytes | type[BaseException]:
    try:
        return canonical(value)
    except ValueError:
        return ValueError


@settings(max_examples=2000, deadline=None)
@given(_VALUES)
def test_every_value_gets_rfc8785s_bytes_or_rfc8785s_refusal(value: object) -> None:
    assert _ours(value) == _reference(value)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(alphabet=st.characters(codec="utf-8"), max_size=4), st.integers(), max_size=8))
def test_members_sort_by_utf16_code_units_also_beyond_the_basic_plane(value: dict[str, int]) -> None:
    assert _ours(value) == _reference(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\U0001f600": 1, "\ufb01": 2},  # code point order and UTF-16 order disagree here
        {"a": 2**53 - 1, "b": -(2**53) + 1},
        {"a": 2**53},
        {"n": 1.0, "m": 1e21, "s": 5e-7},
        {"text": '\u2028 \u0085 \x7f \x1f \b "quoted" \\'},
        {1: "a key that is not text"},
        ["\ud800"],
        [float("nan")],
    ],
)
def test_awkward_values_match_rfc8785(value: object) -> None:
    assert _ours(value) == _reference(value)


class _Colour(enum.Enum):
    RED = "red"


class _Text(enum.StrEnum):
    RED = "red"


class _Number(enum.IntEnum):
    TWO = 2


def test_enum_members_are_encoded_as_rfc8785_encodes_them() -> None:
    assert canonical({"c": _Text.RED, "n": _Number.TWO}) == rfc8785.dumps({"c": _Text.RED, "n": _Number.TWO})
    with pytest.raises(ValueError):
        canonical({"c": _Colour.RED})


def test_a_value_that_contains_itself_is_refused() -> None:
    looped: list[object] = []
    looped.append(looped)
    with pytest.raises(RecursionError):
        canonical(looped)


_BMP = "".join(chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF)


def test_every_character_of_the_basic_plane_is_escaped_or_not_as_rfc8785_does() -> None:
    assert canonical({"all": _BMP}) == rfc8785.dumps({"all": _BMP})


def test_keys_of_every_basic_plane_character_sort_as_rfc8785_sorts_them() -> None:
    value = {ch: n for n, ch in enumerate(reversed(_BMP))}
    assert canonical(value) == rfc8785.dumps(value)


class _LyingDict(dict[str, object]):
    """A dict that tells its members differently to whoever asks (items, keys, iteration)."""

    def items(self) -> Any:
        return [("a", "forged")]

    def keys(self) -> Any:
        return ["a"]

    def __iter__(self) -> Any:
        return iter(["a"])


class _ShoutingText(str):
    __slots__ = ()

    def __str__(self) -> str:
        return self.upper()

    def encode(self, *_args: Any, **_kwargs: Any) -> bytes:  # rfc8785 sorts keys by key.encode("utf-16be")
        return b""


class _Hex(int):
    def __repr__(self) -> str:
        return hex(self)

    __str__ = __repr__


@pytest.mark.parametrize(
    "value",
    [
        # Private-use and specials (U+E000..U+FFFF) sort after a character beyond U+FFFF in UTF-16.
        {"\ue000": 1, "\U00010000": 2, "\uffff": 3, "\U0010ffff": 4, "\ud7ff": 5, "z": 6},
        {"\uffff": {"\U0001f600": 1, "\ufffd": 2}},
        {"k": ["\U0001f600"], "\ue000": 0},  # beyond U+FFFF in a value only
        {"e\u0301": 1, "\u00e9": 2},  # the same text to a reader, two keys
        {"\x00": 1, "\x7f": 2, "\x1f": 3, "\u2028": 4},
        {"\ud83d\ude00": 1},  # a surrogate pair as two code points: not text
        {"\udfff": 1, "a": 2},
        [-0.0, 0.0, 5e-324, 1e21, 1e-7, 2.0**53, -(2.0**53)],
        [float("inf")],
        [float("-inf")],
        {"n": -(2**53) + 1, "m": 2**53 - 1, "o": 0, "b": True, "f": False},
        {"n": -(2**53)},
        {True: 1},
        {None: 1},
        {(1, 2): 1},
        {"t": (1, [2, (3,)]), "e": (), "l": [], "d": {}},
        collections.OrderedDict([("b", 1), ("a", 2)]),
        {"inner": collections.OrderedDict([("b", 1), ("a", 2)])},
        _LyingDict(b=1, a=2),
        {"inner": _LyingDict(b=1, a=2)},
        {_ShoutingText("b"): 1, "a": _ShoutingText("x")},
        {"n": _Hex(255), "l": [_Hex(16)]},
        {"b": b"bytes"},
        {"m": types.MappingProxyType({"a": 1})},
        {"s": {1, 2}},
    ],
)
def test_hostile_types_and_characters_get_rfc8785s_bytes_or_its_refusal(value: object) -> None:
    assert _ours(value) == _reference(value)


def test_a_value_nested_deeper_than_anything_custody_signs_is_refused_not_encoded_partly() -> None:
    deep: object = 1
    for _ in range(sys.getrecursionlimit() + 10):
        deep = {"a": [deep]}
    with pytest.raises(RecursionError):
        canonical(deep)
