"""Property-based tests for the parsing of codes as they arrive in logs."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acs_exporter.catalog import MalformedCode, load_catalog, parse_code, parse_subcode

BLANKS = st.text(alphabet=" \t\r\n", max_size=3)
CATALOG = load_catalog()


@given(st.integers(min_value=0, max_value=10**18 - 1))
def test_non_negative_ints_are_themselves(number: int) -> None:
    assert parse_code(number) == number


@given(st.integers(min_value=0, max_value=10**18 - 1), BLANKS, BLANKS)
def test_decimal_strings_with_surrounding_blanks_parse(number: int, left: str, right: str) -> None:
    assert parse_code(f"{left}{number}{right}") == number


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=5))
def test_leading_zeros_are_accepted(number: int, zeros: int) -> None:
    assert parse_code("0" * zeros + str(number)) == number


@given(st.integers(max_value=-1))
def test_negative_numbers_are_malformed(number: int) -> None:
    with pytest.raises(MalformedCode):
        parse_code(number)
    with pytest.raises(MalformedCode):
        parse_code(str(number))


@given(st.text())
def test_text_that_is_not_ascii_digits_is_malformed(text: str) -> None:
    if re.fullmatch(r"[0-9]{1,18}", text.strip()):
        assert parse_code(text) == int(text.strip())
    else:
        with pytest.raises(MalformedCode):
            parse_code(text)


@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.floats(),
        st.binary(),
        st.lists(st.integers()),
        st.dictionaries(st.text(), st.integers()),
    )
)
def test_other_types_are_malformed(value: object) -> None:
    with pytest.raises(MalformedCode) as error:
        parse_code(value)
    assert error.value.value is value
    assert "malformed code" in str(error.value)


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.integers(min_value=0, max_value=10**6).map(str),
)


@given(VALUES, VALUES, st.one_of(st.none(), st.text(max_size=25)))
def test_resolve_answers_or_raises_malformed_never_anything_else(
    code: object, subcode: object, service: str | None
) -> None:
    try:
        resolution = CATALOG.resolve(code, subcode, service)
    except MalformedCode:
        return
    assert resolution.code == parse_code(code)
    assert resolution.subcode == parse_subcode(subcode)
