"""pydantic's validation errors as `InputProblem`s: the dotted field, file:line, the value only
as `redact` allows, and the validator's message with the input scrubbed out of it.

Each loader (config, catalog, web config) says how a location reads (`clean`), where it is
written (`where`), which locations hold secrets and, if it wants, its own wording (`explain`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from acs_exporter.inputs.errors import InputProblem
from acs_exporter.inputs.redact import dotted, is_secret_key, scrub, shown_value
from acs_exporter.inputs.safeyaml import Document, Location

ErrorDetails = Mapping[str, Any]


def without_pydantic_steps(loc: Location) -> Location:
    """The path to the field the user wrote: without the steps pydantic adds for a validator
    wrapped around a field ("function-after[...]") or the branch of a union it tried."""
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def has_secret_key(loc: Location) -> bool:
    return any(isinstance(part, str) and is_secret_key(part) for part in loc)


def pydantic_message(error: ErrorDetails, loc: Location) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def in_file(path: Path | str, document: Document) -> Callable[[Location], str]:
    """`file:line` of a location (its nearest written parent), or the file alone."""

    def where(loc: Location) -> str:
        position = document.position(loc)
        return f"{path}:{position.line}" if position is not None else str(path)

    return where


@dataclass(frozen=True)
class Translation:
    where: Callable[[Location], str]
    clean: Callable[[Location], Location] = without_pydantic_steps
    secret: Callable[[Location], bool] = has_secret_key
    explain: Callable[[ErrorDetails, Location], str] = pydantic_message
    top_level: str = ""  # the field named for an error on the whole document
    # Whether a validator's message may quote no input at all, or (False: the web config,
    # whose only free text is under secret keys) only none from a secret location.
    scrub_everywhere: bool = True

    def problems(self, error: ValidationError) -> list[InputProblem]:
        return [self.problem(details) for details in error.errors()]

    def problem(self, error: ErrorDetails) -> InputProblem:
        loc = self.clean(tuple(error["loc"]))
        hidden = error["type"] == "missing" or self.secret(loc)
        # Only values that cannot be secrets are echoed (numbers, booleans, durations).
        shown = None if hidden else shown_value(error.get("input"))
        message = self.explain(error, loc)
        if self.scrub_everywhere or self.secret(loc):
            message = scrub(message, error.get("input"))
        field = dotted(loc) or self.top_level
        return InputProblem(self.where(loc), field, shown or "", message)
