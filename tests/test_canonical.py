"""custody.canonical writes exactly the bytes of the rfc8785 library, or refuses exactly what it refuses."""

from __future__ import annotations

import enum

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
