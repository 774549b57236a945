"""The catalog's value types: categories, domains, entries, rules and resolutions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
    SUBCODE_RULE = "subcode-rule"  # Call Automation: the generic subcode, where the code is silent
    UNKNOWN = "unknown"


class Domain(StrEnum):
    CALLING_SDK = "calling-sdk"
    CALL_END = "call-end"
    CALL_AUTOMATION = "call-automation"
    GENERIC = "generic"


@dataclass(frozen=True)
class Entry:
    """One row of Microsoft's tables (or of a user override file).

    `code` is None for a subcode-only row (the generic subcode table), `subcode` is None for a
    code-only description. `category` is None where the documentation gives none.
    """

    code: int | None
    subcode: int | None
    category: Category | None
    message: str
    advice: str
    domain: Domain
    source: str
    notes: str = ""  # how disagreements between the pages were settled for this entry

    @property
    def key(self) -> str:
        """ "487/10004", "487/-", "-/8509": how the docs and the CLI spell an end reason."""
        return f"{dash(self.code)}/{dash(self.subcode)}"


@dataclass(frozen=True)
class CodeRule:
    """Step 3: a category for a code whatever its subcode, with the reasoning behind it."""

    code: int
    category: Category
    reason: str
    source: str = ""
    # True: the rule speaks only for records without a subcode (code 0 alone is Success, but
    # an unlisted 0/x stays Unknown: code 0 has ExpectedError rows too).
    without_subcode: bool = False


@dataclass(frozen=True)
class CodeClass:
    """Step 4: a category for a whole range of codes (2xx, 5xx)."""

    first: int
    last: int
    category: Category
    reason: str

    def contains(self, code: int) -> bool:
        return self.first <= code <= self.last


@dataclass(frozen=True)
class Resolution:
    code: int
    subcode: int | None
    category: Category
    provenance: Provenance
    entry: Entry | None = None  # the row that decided, or the best description of the code
    reason: str = ""  # one sentence: why this category
    related: tuple[Entry, ...] = ()  # other rows describing the code or the subcode alone
    # The two opinions behind `category`, so aggregation can choose which one labels a series:
    # the category the catalog gives the end reason without the service's word (for a record
    # without a subcode the service's ResultCategory is part of the catalog's own answer, see
    # docs/catalog.md), and the service's ResultCategory, normalised (None: absent or invalid).
    catalog_category: Category | None = None
    service_category: Category | None = None

    @property
    def key(self) -> str:
        return f"{self.code}/{dash(self.subcode)}"

    @property
    def documented(self) -> bool:
        """A row documents exactly this (code, subcode) pair (with or without a category)."""
        entry = self.entry
        return entry is not None and (entry.code, entry.subcode) == (self.code, self.subcode)


def dash(value: int | None) -> str:
    """A code or subcode as the catalog's texts write it: "-" for none."""
    return "-" if value is None else str(value)
