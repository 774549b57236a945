"""Parsing of end-reason codes and subcodes as they arrive in logs ("487", " 0 ", 487)."""

from __future__ import annotations

from acs_exporter.inputs.redact import shorten_repr


class MalformedCode(ValueError):
    """A code or subcode that is empty, null, negative or not an integer."""

    def __init__(self, value: object) -> None:
        super().__init__(f"malformed code {shorten_repr(value)}: expected a non-negative integer")
        self.value = value


# Codes are small; the bound keeps a hostile "9" * 5000 from costing a big-int conversion and
# matches what Log Analytics stores (int/long columns).
MAX_DIGITS = 18


def parse_code(value: object) -> int:
    """Accept 487, "487", " 0 "; reject None, "", -1, "abc", 4.5, True.

    Only ASCII digits count: `str.isdecimal()` alone would accept other scripts' digits
    ("٤٨٧"), which no ACS log contains and which would hide a corrupted record.
    """
    if type(value) is int:  # exact type: bool is an int subclass and must be refused
        if value < 0:
            raise MalformedCode(value)
        return value
    if isinstance(value, str):
        text = value.strip()
        if text and len(text) <= MAX_DIGITS and text.isascii() and text.isdecimal():
            return int(text)
    raise MalformedCode(value)


def is_missing(value: object) -> bool:
    """A field the record does not fill: absent/null (None), empty or only blanks.

    `ParticipantEndSubCode` is a string column: Log Analytics returns "" for a record without
    one, diagnostic JSON omits the property or writes null, CSV leaves the cell empty. All mean
    the same thing: no subcode. (A missing *code* is still malformed: every call end has one.)
    """
    return value is None or (isinstance(value, str) and not value.strip())


def parse_subcode(value: object) -> int | None:
    """None for a missing subcode (see `is_missing`), else `parse_code`. Raises MalformedCode."""
    return None if is_missing(value) else parse_code(value)
