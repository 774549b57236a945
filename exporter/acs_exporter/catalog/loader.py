"""Load catalog files (the shipped data, user overrides) with errors that name file and line.

The shared loader (`acs_exporter.inputs.safeyaml`) keeps the line of every key and item, so a schema
error on `entries[3].category` is reported at the line where that value is written; errors are
`InputError`s, rendered like the configuration's, values shown only as `redact` allows.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from acs_exporter.catalog.errors import CatalogError
from acs_exporter.catalog.model import Category, CodeRule, Domain, Entry, dash
from acs_exporter.catalog.schema import CatalogFile, EntryModel
from acs_exporter.inputs import safeyaml
from acs_exporter.inputs.errors import InputProblem
from acs_exporter.inputs.safeyaml import Location
from acs_exporter.inputs.validation import Translation, in_file

SHIPPED = "catalog.yaml"
# The shipped catalog is ~115 KB and ~4,000 nodes; an override is smaller.
LIMITS = safeyaml.YamlLimits(max_bytes=16 << 20, max_depth=32, max_nodes=1_000_000, libyaml=True)


def _load(text: str, where: str) -> safeyaml.Document:
    """The shared safe loader bounds size, depth and alias expansion and refuses duplicate
    keys (PyYAML keeps the last of two equal keys without a word)."""
    try:
        return safeyaml.load(text, LIMITS)
    except safeyaml.YamlProblem as problem:
        where_line = f"{where}:{problem.line or 1}"
        raise CatalogError([InputProblem(where_line, "", "", problem.message)]) from None


def _without_branches(loc: Location) -> Location:
    # Pydantic appends the union/literal branch it tried ("int", "function-before[...]");
    # keep the path to the real field only.
    return tuple(s for s in loc if isinstance(s, int) or not any(c in s for c in "[("))


def parse_catalog_text(text: str, where: str) -> CatalogFile:
    """Validate one catalog file's text; `where` names it in errors (a path)."""
    document = _load(text, where)
    if document.value is None:
        return CatalogFile()
    if not isinstance(document.value, dict):
        kind = "a list" if isinstance(document.value, list) else "a scalar"
        raise CatalogError(
            [
                InputProblem(
                    f"{where}:1",
                    "",
                    "",
                    f"expected a mapping with `entries:` (and optionally `rules:`), not {kind}",
                )
            ]
        )
    try:
        parsed = CatalogFile.model_validate(document.value)
    except ValidationError as error:
        translation = Translation(
            where=in_file(where, document), clean=_without_branches, model=CatalogFile
        )
        raise CatalogError(translation.problems(error)) from None
    _refuse_duplicate_entries(parsed, document, where)
    return parsed


def _line(document: safeyaml.Document, path: Location) -> int:
    position = document.position(path)
    return 1 if position is None else position.line


def _refuse_duplicate_entries(parsed: CatalogFile, document: safeyaml.Document, where: str) -> None:
    seen: dict[tuple[Domain, int | None, int | None], int] = {}
    for index, entry in enumerate(parsed.entries):
        key = (entry.domain, entry.code, entry.subcode)
        line = _line(document, ("entries", index))
        if key in seen:
            message = (
                f"{entry.domain} {dash(entry.code)}/{dash(entry.subcode)} is already defined "
                f"at line {seen[key]} of this file"
            )
            raise CatalogError([InputProblem(f"{where}:{line}", f"entries[{index}]", "", message)])
        seen[key] = line
    _refuse_duplicate_rules(parsed, document, where)


def _refuse_duplicate_rules(parsed: CatalogFile, document: safeyaml.Document, where: str) -> None:
    rule_lines: dict[tuple[int, bool], int] = {}
    for index, rule in enumerate(parsed.rules):
        line = _line(document, ("rules", index))
        for code in rule.codes:
            # One rule per code, plus one for records of the code without a subcode.
            rule_key = (code, rule.without_subcode)
            if rule_key in rule_lines:
                message = (
                    f"code {code} already has a rule at line {rule_lines[rule_key]} of this file"
                )
                raise CatalogError(
                    [InputProblem(f"{where}:{line}", f"rules[{index}]", "", message)]
                )
            rule_lines[rule_key] = line


def read_catalog_file(path: Path) -> CatalogFile:
    try:
        text = safeyaml.read_text(path, LIMITS)
    except OSError as error:
        message = f"cannot read catalog file: {error.strerror or error}"
        raise CatalogError([InputProblem(str(path), "", "", message)]) from None
    except safeyaml.YamlProblem as problem:
        line = "" if problem.line is None else f":{problem.line}"
        message = f"cannot read catalog file: {problem.message}"
        raise CatalogError([InputProblem(f"{path}{line}", "", "", message)]) from None
    return parse_catalog_text(text, str(path))


def read_shipped() -> CatalogFile:
    where = f"<package>/data/{SHIPPED}"
    data = resources.files("acs_exporter.catalog").joinpath("data", SHIPPED)
    parsed = parse_catalog_text(data.read_text(encoding="utf-8"), where)
    missing = [i for i, e in enumerate(parsed.entries) if e.source is None]
    if missing:
        first = missing[0]
        message = f"entry {parsed.entries[first]} has no source"
        raise CatalogError([InputProblem(where, f"entries[{first}]", "", message)])
    return parsed


def to_entry(model: EntryModel, default_source: str) -> Entry:
    return Entry(
        code=model.code,
        subcode=model.subcode,
        category=None if model.category is None else Category(model.category),
        message=model.message,
        advice=model.advice,
        domain=model.domain,
        source=model.source or default_source,
        notes=model.notes,
    )


def to_rules(parsed: CatalogFile, default_source: str) -> list[CodeRule]:
    return [
        CodeRule(
            code,
            Category(rule.category),
            rule.reason,
            rule.source or default_source,
            rule.without_subcode,
        )
        for rule in parsed.rules
        for code in rule.codes
    ]
