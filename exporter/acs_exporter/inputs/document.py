"""What an operator's file is once read, whatever its syntax: its text within bounds
(`read_text`), the parsed `Document` with the position of every key and item, and the
`YamlProblem` that refuses it.

These need no YAML parser, so code that only handles documents (validation errors, the
configuration with no file given) does not import PyYAML (~20 ms at every start): the parser
itself is `acs_exporter.inputs.safeyaml`, imported only where a file is read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class YamlLimits:
    max_bytes: int = 1 << 20  # the file, before decoding
    max_depth: int = 32  # nested mappings and sequences
    max_nodes: int = 100_000  # scalars, mappings and sequences, with every alias expanded
    string_keys: bool = True  # every mapping key must be a string
    # libyaml parses ten times faster (big catalogs); PyYAML's messages and columns are better.
    libyaml: bool = False


class YamlProblem(Exception):
    """The document is refused. `line` is 1-based, None when not known."""

    def __init__(
        self,
        line: int | None,
        message: str,
        column: int | None = None,
        path: tuple[str | int, ...] | None = None,
    ) -> None:
        self.line = line
        self.column = column
        self.message = message
        self.path = path  # where in the document, when known: ("sources", 0, "seed")
        super().__init__(message)


def read_text(path: Path, limits: YamlLimits) -> str:
    """The file's text: at most `limits.max_bytes`, UTF-8 (a BOM is allowed) or UTF-16 with a
    BOM. Raises OSError (unreadable) or YamlProblem (too big, not text)."""
    with path.open("rb") as handle:
        data = handle.read(limits.max_bytes + 1)
    return decode(data, limits)


def decode(data: bytes, limits: YamlLimits) -> str:
    if len(data) > limits.max_bytes:
        raise YamlProblem(None, f"the file is larger than {_size(limits.max_bytes)}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise YamlProblem(None, "invalid UTF-16 text") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise YamlProblem(
            line, f"expected UTF-8 text: byte 0x{data[exc.start]:02x} is not UTF-8"
        ) from None


def _size(count: int) -> str:
    return f"{count >> 20} MiB" if count >= 1 << 20 else f"{count} bytes"


Location = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True)
class Document:
    """A parsed document: its value (None when empty) and where each key and item is written:
    a mapping entry at its key, a sequence item at its first character."""

    value: Any
    positions: Mapping[Location, Position]

    def position(self, path: Sequence[str | int], shallowest: int = 0) -> Position | None:
        """Where `path` is written, else its nearest written parent at least `shallowest`
        steps deep (a validation error can point below what the file spells out, or into an
        alias); None when there is none."""
        for size in range(len(path), shallowest - 1, -1):
            found = self.positions.get(tuple(path[:size]))
            if found is not None:
                return found
        return None


def json_depth(text: str) -> int:
    """Deepest nesting of [ and { outside JSON strings: linear and not recursive, so JSON given
    in an environment variable gets the same `max_depth` as a YAML file, checked before the
    recursive json module reads it (RecursionError at a few thousand levels)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def nul_location(value: object) -> Location | None:
    """Where in a document (a file's, or the environment's or the flags' layer of the
    configuration) a string value holds a NUL character, or None. Every loader refuses it: it
    is binary data or an escape (YAML "\\0", JSON "\\u0000"), and in a path open() raises
    ValueError on it rather than OSError."""
    return next((loc for loc, text in _strings(value, ()) if "\x00" in text), None)


def _strings(value: object, loc: Location) -> Iterator[tuple[Location, str]]:
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*loc, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*loc, index))
