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
from enum import Enum

from acs_exporter.sources.base import Observation


class Table(Enum):
    CALL_SUMMARY = "ACSCallSummary"
    MEDIA_SUMMARY = "ACSCallAutomationMediaSummary"


# Column (lower case) -> dimension name, per table. Only allow-listed dimensions are read.
CALL_CODE = "participantendreason"
CALL_SUBCODE = "participantendsubcode"
CALL_CATEGORY = "resultcategory"
CALL_DIMENSIONS = (
    ("calltype", "call_type"),
    ("endpointtype", "endpoint_type"),
    ("participanttype", "participant_type"),
)
MEDIA_CODE = "resultcode"
MEDIA_SUBCODE = "resultsubcode"
MEDIA_DIMENSIONS = (("operationname", "operation"),)

# Type column values / diagnostic categories, lower case.
TABLE_NAMES = {
    "acscallsummary": Table.CALL_SUMMARY,
    "callsummary": Table.CALL_SUMMARY,
    "acscallautomationmediasummary": Table.MEDIA_SUMMARY,
    "callautomationmediasummary": Table.MEDIA_SUMMARY,
}


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


def table_for(type_value: object) -> Table | None:
    if isinstance(type_value, str):
        return TABLE_NAMES.get(type_value.strip().lower())
    return None


def _code(value: object, field: str, prefix: str = "") -> object:
    # Strings, integers, null and even floats go through raw; the catalog judges their value.
    if isinstance(value, bool | dict | list):
        raise RecordError(
            "wrong_type", f"field {prefix}{field}: expected a string or integer, got {value!r}"
        )
    return value


def _text(value: object, field: str, prefix: str = "") -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise RecordError("wrong_type", f"field {prefix}{field}: expected a string, got {value!r}")


def _dimensions(
    values: Sequence[tuple[str, object, str]],
) -> tuple[tuple[str, str], ...]:
    out = []
    for name, value, field in values:
        text = _text(value, field)
        if text:
            out.append((name, text))
    return tuple(sorted(out))


_MISSING = object()


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Where a table's fields sit in a row (a header or a query result's columns)."""

    table: Table
    code: int
    subcode: int | None
    category: int | None
    dimensions: tuple[tuple[str, int, str], ...]  # (dimension, index, column as written)
    names: tuple[str, ...]  # the columns as written, for messages

    @classmethod
    def for_columns(cls, columns: Sequence[str], table: Table) -> ColumnMap | None:
        """None when the columns lack the table's end code (the caller reports it once)."""
        index = {normalise_column(c): i for i, c in enumerate(columns)}
        dims: tuple[tuple[str, str], ...]
        if table is Table.CALL_SUMMARY:
            code, subcode, category, dims = CALL_CODE, CALL_SUBCODE, CALL_CATEGORY, CALL_DIMENSIONS
        else:
            code, subcode, category, dims = MEDIA_CODE, MEDIA_SUBCODE, None, MEDIA_DIMENSIONS
        if code not in index:
            return None
        return cls(
            table=table,
            code=index[code],
            subcode=index.get(subcode),
            category=index.get(category) if category else None,
            dimensions=tuple(
                (name, index[column], columns[index[column]])
                for column, name in dims
                if column in index
            ),
            names=tuple(columns),
        )

    def observation(self, row: Sequence[object]) -> Observation:
        names = self.names
        code = _code(row[self.code], names[self.code])
        subcode = None if self.subcode is None else _code(row[self.subcode], names[self.subcode])
        category = (
            None if self.category is None else _text(row[self.category], names[self.category])
        )
        dims = _dimensions([(name, row[i], column) for name, i, column in self.dimensions])
        return Observation(code, subcode, category, dims, 1)


@dataclass(frozen=True, slots=True)
class ColumnLayout:
    """A CSV header or a query result's columns, resolved once: which table each row belongs
    to (its Type column, else the end-code column the header has) and where its fields are."""

    described: str  # "the header", "table PrimaryResult": for messages
    type_index: int | None
    maps: dict[Table, ColumnMap | None]
    default_table: Table | None

    @classmethod
    def of(cls, columns: Sequence[str], described: str) -> ColumnLayout:
        names = [normalise_column(c) for c in columns]
        maps = {table: ColumnMap.for_columns(columns, table) for table in Table}
        return cls(
            described=described,
            type_index=names.index("type") if "type" in names else None,
            maps=maps,
            # Rows without a Type: the first table (call summary) whose end code is a column.
            default_table=next((table for table in Table if maps[table] is not None), None),
        )

    def observation(self, row: Sequence[object]) -> tuple[Table, Observation]:
        """The row's table and Observation. Raises RecordError. `row` has one value a column."""
        if self.type_index is None:
            table = self.default_table
            if table is None:
                raise RecordError(
                    "missing_field",
                    f"no ParticipantEndReason (or ResultCode) column in {self.described}",
                )
        else:
            kind = row[self.type_index]
            table = table_for(kind)
            if table is None:
                raise RecordError("other_table", f"Type {kind!r} is not a supported table")
        columns = self.maps[table]
        if columns is None:
            raise RecordError(
                "missing_field", f"{table.value} row but {self.described} has no end-code column"
            )
        return table, columns.observation(row)


@dataclass(frozen=True, slots=True)
class _PropertySpec:
    """The camelCase properties of one table; dimensions sorted by name."""

    code: str
    subcode: str
    category: str | None
    dimensions: tuple[tuple[str, str], ...]  # (property, dimension)


_PROPERTIES = {
    Table.CALL_SUMMARY: _PropertySpec(
        "participantEndReason",
        "participantEndSubCode",
        "resultCategory",
        (
            ("callType", "call_type"),
            ("endpointType", "endpoint_type"),
            ("participantType", "participant_type"),
        ),
    ),
    Table.MEDIA_SUMMARY: _PropertySpec(
        "resultCode", "resultSubcode", None, (("operationName", "operation"),)
    ),
}


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


def observation_from_properties(properties: dict[str, object], table: Table) -> Observation:
    """A diagnostic-settings record's `properties` (camelCase keys) -> Observation."""
    spec = _PROPERTIES[table]
    lookup = _Properties(properties)
    found = lookup.get(spec.code)
    if found is None:
        raise RecordError("missing_field", f"field properties.{spec.code} is missing")
    code = _code(found[1], found[0], "properties.")
    pair = lookup.get(spec.subcode)
    subcode = None if pair is None else _code(pair[1], pair[0], "properties.")
    pair = None if spec.category is None else lookup.get(spec.category)
    category = None if pair is None else _text(pair[1], pair[0], "properties.")
    dims = []
    for key, name in spec.dimensions:
        pair = lookup.get(key)
        if pair is not None:
            text = _text(pair[1], pair[0], "properties.")
            if text:
                dims.append((name, text))
    return Observation(code, subcode, category, tuple(dims), 1)
