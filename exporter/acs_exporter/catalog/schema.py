"""The schema every catalog file is validated against: the shipped data and user overrides.

The code classes of step 4 (2xx, 5xx) are not data: they live in resolver.py.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from acs_exporter.catalog.codes import parse_code
from acs_exporter.catalog.model import Domain

# A file may state only the four categories the service itself uses; "Unknown" is what the
# resolver answers when nothing is documented, never something a file asserts.
DocumentedCategory = Literal[
    "Success", "ExpectedError", "UnexpectedClientError", "UnexpectedServerError"
]

# Codes may be written quoted ("487") as they appear in logs; the same parser as for log
# records decides what is a code.
CodeNumber = Annotated[int, BeforeValidator(parse_code)]
Text = Annotated[str, Field(min_length=1)]


class EntryModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: CodeNumber | None = None
    subcode: CodeNumber | None = None
    category: DocumentedCategory | None = None
    message: Text
    advice: Text
    domain: Domain = Domain.CALL_END
    source: Text | None = None  # required in the shipped data; an override defaults to its file
    notes: str = ""

    @model_validator(mode="after")
    def _code_or_subcode(self) -> Self:
        if self.code is None and self.subcode is None:
            raise ValueError("an entry needs a code, a subcode or both")
        if self.code is None and self.category is not None and self.domain != Domain.GENERIC:
            # A subcode alone means different things under different codes (8522 is 404 or
            # 405 in Call Automation): only a generic subcode may carry a category, and it is
            # used only in Call Automation where the code decides nothing (docs/catalog.md).
            raise ValueError(
                "a subcode-only entry can have a category only in the generic domain; "
                "give its code too"
            )
        return self


class RuleModel(BaseModel):
    """Step 3 of the resolution: one category for the codes, whatever the subcode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    codes: Annotated[list[CodeNumber], Field(min_length=1)]
    category: DocumentedCategory
    reason: Text
    source: str = ""
    # Only for records without a subcode; a subcode the catalog does not list stays unresolved.
    without_subcode: bool = False


class CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    entries: list[EntryModel] = []
    rules: list[RuleModel] = []
