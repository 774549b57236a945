"""pydantic's validation errors as `InputProblem`s: the dotted field, file:line, the value only
as `redact` allows, and the validator's message with the input scrubbed out of it.

Each loader (config, catalog, web config) says how a location reads (`clean`), where it is
written (`where`), which locations hold secrets and, if it wants, its own wording (`explain`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError

from acs_exporter.inputs.document import Document, Location
from acs_exporter.inputs.errors import InputProblem
from acs_exporter.inputs.redact import dotted, is_secret_key, scrub, shown_value

ErrorDetails = Mapping[str, Any]


def without_pydantic_steps(loc: Location) -> Location:
    """The path to the field the user wrote: without the steps pydantic adds for a validator
    wrapped around a field ("function-after[...]") or the branch of a union it tried."""
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def has_secret_key(loc: Location) -> bool:
    return any(isinstance(part, str) and is_secret_key(part) for part in loc)


def pydantic_message(error: ErrorDetails, loc: Location) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def with_allowed_keys(message: str, root: type[BaseModel], error: ErrorDetails) -> str:
    """For an unknown key, `message` followed by the keys allowed where it was written (found by
    walking `root` along pydantic's raw location); other messages as they are."""
    if error["type"] != "extra_forbidden":
        return message
    allowed = allowed_keys(root, tuple(error["loc"])[:-1])
    if not allowed:
        return message
    if message == "Extra inputs are not permitted":  # pydantic's words: say what it means
        message = "unknown key"
    return f"{message}; expected one of: {', '.join(allowed)}"


def allowed_keys(root: type[BaseModel], parent: Location) -> list[str]:
    """The keys of the model at `parent` (a raw pydantic location: list indexes, dict keys,
    union branches by tag value or class name), or [] if it does not lead to one model."""
    current: type[BaseModel] | None = root
    branches: list[type[BaseModel]] = [root]
    mapping_key_next = False
    for part in without_pydantic_steps(parent):
        if isinstance(part, int) or mapping_key_next:
            mapping_key_next = False
            continue
        fields = _fields_by_key(current) if current is not None else {}
        if part in fields:
            annotation = fields[part].annotation
            branches = _models_in(annotation)
            current = branches[0] if len(branches) == 1 else None
            mapping_key_next = _is_mapping(annotation)
            continue
        chosen = [m for m in branches if m.__name__ == part or _tagged(m, part)]
        if len(chosen) != 1:
            return []
        current = chosen[0]
    return list(_fields_by_key(current)) if current is not None else []


def _fields_by_key(model: type[BaseModel]) -> dict[str, Any]:
    return {field.alias or name: field for name, field in model.model_fields.items()}


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        found += [m for m in _models_in(arg) if m not in found]
    return found


def _is_mapping(annotation: object) -> bool:
    origin = get_origin(annotation)
    if isinstance(origin, type) and issubclass(origin, Mapping):
        return True
    return any(_is_mapping(arg) for arg in get_args(annotation) if get_origin(arg) is not None)


def _tagged(model: type[BaseModel], tag: str) -> bool:
    """Whether a field of `model` is the literal `tag` (a discriminated union's branch)."""
    return any(
        get_origin(field.annotation) is Literal and get_args(field.annotation) == (tag,)
        for field in model.model_fields.values()
    )


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
    # The model validated: an unknown key's message then lists the keys allowed there.
    model: type[BaseModel] | None = None
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
        if self.model is not None:
            message = with_allowed_keys(message, self.model, error)
        if self.scrub_everywhere or self.secret(loc):
            message = scrub(message, error.get("input"))
        field = dotted(loc) or self.top_level
        return InputProblem(self.where(loc), field, shown or "", message)
