"""Load catalog files (the shipped data, user overrides) with errors that name file and line.

YAML is composed into nodes first: the nodes keep their line numbers, so a schema error on
`entries[3].category` can be reported at the line where that value is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from acs_exporter import safeyaml
from acs_exporter.catalog.model import Category, CodeRule, Domain, Entry
from acs_exporter.catalog.schema import CatalogFile, EntryModel

SHIPPED = "catalog.yaml"
# The shipped catalog is ~115 KB and ~4,000 nodes; an override is smaller.
LIMITS = safeyaml.YamlLimits(max_bytes=16 << 20, max_depth=32, max_nodes=1_000_000, libyaml=True)


class CatalogError(Exception):
    """A catalog or override file is invalid; the message names file, line and reason."""


def _line(node: yaml.Node | None) -> int:
    return 1 if node is None else node.start_mark.line + 1


def _load(text: str, where: str) -> tuple[Any, yaml.Node | None]:
    """Value and root node. The shared safe loader bounds size, depth and alias expansion and
    refuses duplicate keys (PyYAML keeps the last of two equal keys without a word)."""
    try:
        return safeyaml.load(text, LIMITS)
    except safeyaml.YamlProblem as problem:
        raise CatalogError(f"{where}:{problem.line or 1}: {problem.message}") from None


def _node_at(root: yaml.Node, location: Iterable[int | str]) -> yaml.Node:
    """The deepest node on the path of a pydantic error location."""
    node = root
    for step in location:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            child = next((v for k, v in node.value if getattr(k, "value", None) == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            child = node.value[step] if 0 <= step < len(node.value) else None
        if child is None:
            break
        node = child
    return node


def _describe(location: Sequence[int | str]) -> str:
    text = ""
    for step in location:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def _validation_message(error: ValidationError, root: yaml.Node, where: str) -> str:
    lines = []
    for problem in error.errors():
        location = [step for step in problem["loc"] if isinstance(step, int | str)]
        # Pydantic appends the union/literal branch it tried ("int", "function-before[...]");
        # keep the path to the real field only.
        path = [s for s in location if isinstance(s, int) or not any(c in s for c in "[(")]
        line = _line(_node_at(root, path))
        value = problem.get("input")
        shown = f" (got {value!r})" if not isinstance(value, dict | list) else ""
        message = str(problem["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}:{line}: {_describe(path) or 'file'}: {message}{shown}")
    return "\n".join(lines)


def parse_catalog_text(text: str, where: str) -> CatalogFile:
    """Validate one catalog file's text; `where` names it in errors (a path)."""
    data, root = _load(text, where)
    if root is None:
        return CatalogFile()
    if not isinstance(root, yaml.MappingNode):
        raise CatalogError(
            f"{where}:{_line(root)}: expected a mapping with `entries:` (and optionally "
            f"`rules:`), not {'a list' if isinstance(root, yaml.SequenceNode) else 'a scalar'}"
        )
    try:
        parsed = CatalogFile.model_validate(data)
    except ValidationError as error:
        raise CatalogError(_validation_message(error, root, where)) from None
    _refuse_duplicate_entries(parsed, root, where)
    return parsed


def _refuse_duplicate_entries(parsed: CatalogFile, root: yaml.Node, where: str) -> None:
    seen: dict[tuple[Domain, int | None, int | None], int] = {}
    for index, entry in enumerate(parsed.entries):
        key = (entry.domain, entry.code, entry.subcode)
        line = _line(_node_at(root, ["entries", index]))
        if key in seen:
            raise CatalogError(
                f"{where}:{line}: entries[{index}]: {entry.domain} "
                f"{_dash(entry.code)}/{_dash(entry.subcode)} is already defined at line "
                f"{seen[key]} of this file"
            )
        seen[key] = line
    rule_lines: dict[tuple[int, bool], int] = {}
    for index, rule in enumerate(parsed.rules):
        line = _line(_node_at(root, ["rules", index]))
        for code in rule.codes:
            # One rule per code, plus one for records of the code without a subcode.
            rule_key = (code, rule.without_subcode)
            if rule_key in rule_lines:
                raise CatalogError(
                    f"{where}:{line}: rules[{index}]: code {code} already has a rule at line "
                    f"{rule_lines[rule_key]} of this file"
                )
            rule_lines[rule_key] = line


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def read_catalog_file(path: Path) -> CatalogFile:
    try:
        text = safeyaml.read_text(path, LIMITS)
    except OSError as error:
        raise CatalogError(f"{path}: cannot read catalog file: {error}") from None
    except safeyaml.YamlProblem as problem:
        line = "" if problem.line is None else f":{problem.line}"
        raise CatalogError(f"{path}{line}: cannot read catalog file: {problem.message}") from None
    return parse_catalog_text(text, str(path))


def read_shipped() -> CatalogFile:
    data = resources.files("acs_exporter.catalog").joinpath("data", SHIPPED)
    parsed = parse_catalog_text(data.read_text(encoding="utf-8"), f"<package>/data/{SHIPPED}")
    missing = [e for e in parsed.entries if e.source is None]
    if missing:
        raise CatalogError(f"<package>/data/{SHIPPED}: entry {missing[0]} has no source")
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
