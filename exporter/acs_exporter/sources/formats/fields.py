"""From one ACS log record (whatever its format) to an Observation.

ACSCallSummary and ACSCallAutomationMediaSummary carry the same fields in every export, only
spelled differently: PascalCase columns (Log Analytics results, CSV) or camelCase properties
(diagnostic settings). Column lookups are case-insensitive and resolved once per file header.

What is rejected here is what cannot be a record at all: a missing end code, or a field of the
wrong JSON type (an object, a list, a boolean). Junk *values* (empty, null, "abc") are passed on
raw: the catalog's code parser counts them as malformed and the call still counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from acs_exporter.definitions import tables
from acs_exporter.definitions.tables import Dimension, LogTable
from acs_exporter.sources.base import Observation
from acs_exporter.sources.formats.reasons import Rejection


class RecordError(Exception):
    """A record that cannot be counted: `reason` is the label value, the message names the field."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def normalise_column(name: str) -> str:
    """`TimeGenerated [UTC]` (portal CSV export) and `participantEndReason` -> lower-case key."""
    name = name.strip()
    if name.endswith("]") and " [" in name:
        name = name[: name.rindex(" [")]
    return name.lower()


def _code(value: object, field: str, prefix: str = "") -> object:
    # Strings, integers, null and even floats go through raw; the catalog judges their value.
    if isinstance(value, bool | dict | list):
        raise RecordError(
            Rejection.WRONG_TYPE,
            f"field {prefix}{field}: expected a string or integer, got {value!r}",
        )
    return value


def _text(value: object, field: str, prefix: str = "") -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise RecordError(
        Rejection.WRONG_TYPE, f"field {prefix}{field}: expected a string, got {value!r}"
    )


def _dimension(dim: Dimension, value: object, field: str, prefix: str = "") -> str | None:
    """The label value of one dimension (None: no label), the type checked first. A derived
    label (definitions/breakdowns.py) has a value even for a missing field (`unknown`)."""
    text = _text(value, field, prefix)
    rule = dim.normalise
    if rule is not None:
        return rule.python(text)
    return text or None


def _dimensions(
    values: Sequence[tuple[Dimension, object, str]],
) -> tuple[tuple[str, str], ...]:
    out = []
    for dim, value, field in values:
        text = _dimension(dim, value, field)
        if text is not None:
            out.append((dim.label, text))
    return tuple(sorted(out))


_MISSING = object()


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Where a table's fields sit in a row (a header or a query result's columns)."""

    table: LogTable
    code: int
    subcode: int | None
    category: int | None
    # (dimension, index, column as written); index None: a derived dimension the columns lack
    dimensions: tuple[tuple[Dimension, int | None, str], ...]
    names: tuple[str, ...]  # the columns as written, for messages

    @classmethod
    def for_columns(cls, columns: Sequence[str], table: LogTable) -> ColumnMap | None:
        """None when the columns lack the table's end code (the caller reports it once)."""
        index = {normalise_column(c): i for i, c in enumerate(columns)}
        if table.code.key not in index:
            return None
        category = table.service_category
        return cls(
            table=table,
            code=index[table.code.key],
            subcode=index.get(table.subcode.key),
            category=None if category is None else index.get(category.key),
            dimensions=_dimension_columns(columns, index, table),
            names=tuple(columns),
        )

    def observation(self, row: Sequence[object]) -> Observation:
        names = self.names
        code = _code(row[self.code], names[self.code])
        subcode = None if self.subcode is None else _code(row[self.subcode], names[self.subcode])
        category = (
            None if self.category is None else _text(row[self.category], names[self.category])
        )
        dims = _dimensions(
            [(dim, None if i is None else row[i], column) for dim, i, column in self.dimensions]
        )
        return Observation(code, subcode, category, dims, 1)


def _dimension_columns(
    columns: Sequence[str], index: dict[str, int], table: LogTable
) -> tuple[tuple[Dimension, int | None, str], ...]:
    found: list[tuple[Dimension, int | None, str]] = []
    for dim in table.dimensions:
        at = index.get(dim.column.key)
        if at is not None:
            found.append((dim, at, columns[at]))
        elif dim.normalise is not None:
            found.append((dim, None, dim.column.pascal))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class ColumnLayout:
    """A CSV header or a query result's columns, resolved once: which table each row belongs
    to (its Type column, else the end-code column the header has) and where its fields are."""

    described: str  # "the header", "table PrimaryResult": for messages
    type_index: int | None
    maps: dict[LogTable, ColumnMap | None]
    default_table: LogTable | None

    @classmethod
    def of(cls, columns: Sequence[str], described: str) -> ColumnLayout:
        names = [normalise_column(c) for c in columns]
        known = tables.registered()
        maps = {table: ColumnMap.for_columns(columns, table) for table in known}
        return cls(
            described=described,
            type_index=names.index("type") if "type" in names else None,
            maps=maps,
            # Rows without a Type: the first table (call summary) whose end code is a column.
            default_table=next((table for table in known if maps[table] is not None), None),
        )

    def observation(self, row: Sequence[object]) -> tuple[LogTable, Observation]:
        """The row's table and Observation. Raises RecordError. `row` has one value a column."""
        if self.type_index is None:
            table = self.default_table
            if table is None:
                codes = " or ".join(t.code.pascal for t in self.maps)
                raise RecordError(Rejection.MISSING_FIELD, f"no {codes} column in {self.described}")
        else:
            kind = row[self.type_index]
            table = tables.by_spelling(kind)
            if table is None:
                raise RecordError(Rejection.OTHER_TABLE, f"Type {kind!r} is not a supported table")
        columns = self.maps[table]
        if columns is None:
            raise RecordError(
                Rejection.MISSING_FIELD,
                f"{table.name} row but {self.described} has no end-code column",
            )
        return table, columns.observation(row)


class _Properties:
    """Looks properties up by their documented spelling, else case-insensitively."""

    __slots__ = ("_lowered", "_properties")

    def __init__(self, properties: dict[str, object]) -> None:
        self._properties = properties
        self._lowered: dict[str, tuple[str, object]] | None = None

    def get(self, key: str) -> tuple[str, object] | None:
        value = self._properties.get(key, _MISSING)
        if value is not _MISSING:
            return key, value
        if self._lowered is None:
            self._lowered = {k.lower(): (k, v) for k, v in self._properties.items()}
        return self._lowered.get(key.lower())


def observation_from_properties(
    properties: dict[str, object], table: LogTable, record: dict[str, object] | None = None
) -> Observation:
    """A diagnostic-settings record's `properties` (camelCase keys) -> Observation. `record`,
    the whole record, holds the fields a dimension may find outside `properties` (the
    top-level `resourceId`)."""
    lookup = _Properties(properties)
    found = lookup.get(table.code.camel)
    if found is None:
        raise RecordError(
            Rejection.MISSING_FIELD, f"field properties.{table.code.camel} is missing"
        )
    code = _code(found[1], found[0], "properties.")
    pair = lookup.get(table.subcode.camel)
    subcode = None if pair is None else _code(pair[1], pair[0], "properties.")
    category_column = table.service_category
    pair = None if category_column is None else lookup.get(category_column.camel)
    category = None if pair is None else _text(pair[1], pair[0], "properties.")
    outer = None if record is None else _Properties(record)
    return Observation(code, subcode, category, _property_dimensions(lookup, outer, table), 1)


def _property_dimensions(
    lookup: _Properties, outer: _Properties | None, table: LogTable
) -> tuple[tuple[str, str], ...]:
    dims = []
    for dim in table.dimensions:
        prefix = "properties."
        pair = lookup.get(dim.column.camel)
        if pair is None and outer is not None:
            prefix, pair = "", outer.get(dim.column.camel)
        if pair is None and dim.normalise is None:
            continue
        value, field = (None, dim.column.camel) if pair is None else (pair[1], pair[0])
        text = _dimension(dim, value, field, prefix)
        if text is not None:
            dims.append((dim.label, text))
    return tuple(sorted(dims))
