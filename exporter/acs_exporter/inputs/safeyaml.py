"""YAML that a person wrote (the config file, catalog files): bounded, strict, never a traceback.

PyYAML alone has four ways to hurt a process reading an untrusted or careless file:
- a small document of nested aliases ("billion laughs") expands to billions of nodes in every
  walk over it (validation, line lookup): minutes of CPU and gigabytes of memory;
- deep nesting (`[[[[...]]]]`) overflows the recursive composer: RecursionError;
- a duplicated key silently keeps the last value;
- a scalar that resolves to an impossible value (`2001-02-30`, a 5,000-digit integer) raises
  ValueError from the constructor.

`load` refuses all of them with a `YamlProblem` naming the line. It first scans the event
stream (cheap, not recursive) to bound the document's depth and its size with aliases expanded,
then composes the nodes (they keep line numbers), checks the keys and builds the values. The
`Document` it returns has the value and the line and column of every key and item, so a
validation error on `sources[0].seed` can name the line it is written on: the one YAML loader
of the config, the catalog files and the web config.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from acs_exporter.inputs.document import (
    Document,
    Location,
    Position,
    YamlLimits,
    YamlProblem,
    decode,
    json_depth,
    read_text,
)
from acs_exporter.inputs.redact import shorten

# Re-exported: callers that read a file take the document types from here with the parser.
__all__ = [
    "Document",
    "Location",
    "Position",
    "YamlLimits",
    "YamlProblem",
    "decode",
    "json_depth",
    "load",
    "read_text",
]

_FastLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _loader(limits: YamlLimits) -> type[yaml.SafeLoader]:
    # libyaml parses ten times faster (big catalogs); PyYAML's messages and columns are better.
    return _FastLoader if limits.libyaml else yaml.SafeLoader


def load(text: str, limits: YamlLimits) -> Document:
    """The document, or YamlProblem naming the line (and column) of what is refused."""
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise YamlProblem(line, "binary data: the file contains a NUL character")
    try:
        return _parse(text, limits)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid"
        if exc.context and problem.startswith("but "):
            # "expected a single document in the stream, but found another document"
            problem = f"{exc.context}, {problem}"
        if mark is None:
            raise YamlProblem(None, f"invalid YAML: {problem}") from None
        raise YamlProblem(mark.line + 1, f"invalid YAML: {problem}", mark.column + 1) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise YamlProblem(line, f"invalid YAML: {exc.reason}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(None, f"invalid YAML: {type(exc).__name__}") from None


def _parse(text: str, limits: YamlLimits) -> Document:
    _scan(text, limits)
    root = _compose(text, limits)
    if root is None:
        return Document(None, {})
    _check_keys(root, limits)
    return Document(_construct(root), _positions(root))


def _scan(text: str, limits: YamlLimits) -> None:
    """Bound depth and expanded size before anything recursive walks the document."""
    loader = _loader(limits)(text)
    sizes = _ExpandedSize(limits)
    try:
        while loader.check_event():
            sizes.add(loader.get_event())  # type: ignore[no-untyped-call]
    finally:
        loader.dispose()


class _ExpandedSize:
    """Counts the nodes of the document as if every alias were a copy of its anchor."""

    def __init__(self, limits: YamlLimits) -> None:
        self._limits = limits
        self._open: list[tuple[str | None, int]] = []  # (anchor, total before it started)
        self._anchors: dict[str, int] = {}
        self._total = 0

    def add(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.CollectionStartEvent):
            if len(self._open) >= self._limits.max_depth:
                raise _at(event, f"nested deeper than {self._limits.max_depth} levels")
            self._open.append((event.anchor, self._total))
            self._count(event, 1)
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, before = self._open.pop()
            if anchor is not None:
                self._anchors[anchor] = self._total - before
        elif isinstance(event, yaml.AliasEvent):
            if any(event.anchor == anchor for anchor, _ in self._open):
                raise _at(event, f"alias *{event.anchor} refers to a node that contains it")
            self._count(event, self._anchors.get(event.anchor or "", 1))
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                self._anchors[event.anchor] = 1
            self._count(event, 1)

    def _count(self, event: yaml.Event, size: int) -> None:
        self._total += size
        if self._total > self._limits.max_nodes:
            raise _at(
                event,
                f"more than {self._limits.max_nodes} values once aliases are expanded "
                "(an alias bomb?)",
            )


def _at(event: yaml.Event, message: str) -> YamlProblem:
    mark = event.start_mark
    if mark is None:
        return YamlProblem(None, message)
    return YamlProblem(mark.line + 1, message, mark.column + 1)


def _compose(text: str, limits: YamlLimits) -> yaml.Node | None:
    loader = _loader(limits)(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _nodes(root: yaml.Node) -> Iterator[tuple[yaml.Node, Location]]:
    """Every distinct node once, with the first path to it (an alias is the same node object
    as its anchor)."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Location]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node, path
        if isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                stack.append((value, (*path, str(getattr(key, "value", "?")))))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(
                (item, (*path, index)) for index, item in reversed(list(enumerate(node.value)))
            )


def _positions(root: yaml.Node) -> dict[Location, Position]:
    """Each distinct node's first path, at its key (mapping values) or its start (the rest).
    An alias is not walked again: its anchor's keys stay where they are written."""
    found: dict[Location, Position] = {(): _position(root.start_mark)}
    for node, path in _nodes(root):
        if isinstance(node, yaml.MappingNode):
            for key, _ in node.value:
                found.setdefault(
                    (*path, str(getattr(key, "value", "?"))), _position(key.start_mark)
                )
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                found.setdefault((*path, index), _position(item.start_mark))
    return found


def _position(mark: yaml.Mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


def _check_keys(root: yaml.Node, limits: YamlLimits) -> None:
    for node, path in _nodes(root):
        if not isinstance(node, yaml.MappingNode):
            continue
        seen: dict[str, int] = {}
        for key, _ in node.value:
            line = key.start_mark.line + 1
            if isinstance(key, yaml.ScalarNode) and key.tag == _MERGE_TAG:
                continue  # `<<: *defaults`: keys written next to it override on purpose
            is_string = isinstance(key, yaml.ScalarNode) and key.tag == _STR_TAG
            if limits.string_keys and not is_string:
                raise YamlProblem(
                    line,
                    "a mapping key must be a string (quote it)",
                    key.start_mark.column + 1,
                    path,
                )
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise YamlProblem(
                        line,
                        f"duplicate key {shorten(key.value, 40)!r} "
                        f"(first at line {seen[key.value]})",
                        key.start_mark.column + 1,
                        (*path, key.value),
                    )
                seen[key.value] = line


class _GuardedConstructor(yaml.SafeLoader):  # the constructor is Python in both loaders
    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # whatever a constructor raises, the value written is bad
            # e.g. `2001-02-30` (a timestamp that does not exist), a 5,000-digit integer, or a
            # value an explicit tag's constructor cannot read (`!!timestamp notadate` raises
            # AttributeError in PyYAML, `!!bool maybe` KeyError).
            reason = shorten(str(exc).split(":")[0]) if isinstance(exc, ValueError) else ""
            reason = reason or f"not a valid {node.tag.rsplit(':', 1)[-1]}"
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value ({reason})", node.start_mark
            ) from None


def _construct(node: yaml.Node) -> Any:
    loader = _GuardedConstructor("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()
