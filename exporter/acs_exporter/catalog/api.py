"""Placeholder implementation of the catalog contract.

The catalog issue replaces this module's internals (data from the seeds, schema validation,
overrides, the full resolution order); the names and signatures below are the contract the rest
of the code relies on and must keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Category(StrEnum):
    SUCCESS = "Success"
    EXPECTED_ERROR = "ExpectedError"
    UNEXPECTED_CLIENT_ERROR = "UnexpectedClientError"
    UNEXPECTED_SERVER_ERROR = "UnexpectedServerError"
    UNKNOWN = "Unknown"


class Provenance(StrEnum):
    DOCUMENTED = "documented"  # the documented (code, subcode) row
    SERVICE = "service"  # ResultCategory logged by the service for this record
    CODE_RULE = "code-rule"  # a documented rule for the code alone
    CODE_CLASS = "code-class"  # the class of the code (2xx, 5xx)
    UNKNOWN = "unknown"


class Domain(StrEnum):
    CALLING_SDK = "calling-sdk"
    CALL_END = "call-end"
    CALL_AUTOMATION = "call-automation"
    GENERIC = "generic"


class CatalogError(Exception):
    """A catalog or override file is invalid; the message names file, line and reason."""


class MalformedCode(ValueError):
    """A code or subcode that is empty, null, negative or not an integer."""

    def __init__(self, value: object) -> None:
        super().__init__(f"malformed code {value!r}: expected a non-negative integer")
        self.value = value


def parse_code(value: object) -> int:
    """Accept 487, "487", " 0 "; reject None, "", -1, "abc", 4.5, True."""
    if isinstance(value, bool) or value is None:
        raise MalformedCode(value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdecimal() and value.strip().isascii():
        number = int(value.strip())
    else:
        raise MalformedCode(value)
    if number < 0:
        raise MalformedCode(value)
    return number


@dataclass(frozen=True)
class Entry:
    code: int | None
    subcode: int | None
    category: Category | None
    message: str
    advice: str
    domain: Domain
    source: str


@dataclass(frozen=True)
class Resolution:
    code: int
    subcode: int | None
    category: Category
    provenance: Provenance
    entry: Entry | None = None


class Catalog:
    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = tuple(entries)

    def resolve(
        self,
        code: object,
        subcode: object,
        service_category: str | None = None,
        domain: Domain = Domain.CALL_END,
    ) -> Resolution:
        number = parse_code(code)
        sub = None if subcode is None else parse_code(subcode)
        if service_category in {c.value for c in Category if c is not Category.UNKNOWN}:
            return Resolution(number, sub, Category(service_category), Provenance.SERVICE)
        if 200 <= number < 300:
            return Resolution(number, sub, Category.SUCCESS, Provenance.CODE_CLASS)
        if 500 <= number < 600:
            return Resolution(number, sub, Category.UNEXPECTED_SERVER_ERROR, Provenance.CODE_CLASS)
        return Resolution(number, sub, Category.UNKNOWN, Provenance.UNKNOWN)


def load_catalog(overrides: Sequence[Path] = ()) -> Catalog:
    return Catalog(())
