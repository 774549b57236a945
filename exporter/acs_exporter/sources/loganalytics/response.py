"""The Log Analytics query API's response body, parsed once for every reader of it: the live
client (`client.QueryRunner`) and saved query results (`formats/loganalytics_json`).

    {"tables": [{"name": "PrimaryResult", "columns": [{"name", "type"}], "rows": [[...]]}],
     "error": {...}}   <- only on a partial result (HTTP 200 with part of the rows)

Both get the same checks and the same messages, naming where (`tables[0].rows[12]`). A partial
result is never counted, by either: the live source retries the window (query error
`partial`), a saved file's rows are all rejected (`partial_result`); the callers decide how,
from `Response.error`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from acs_exporter.inputs.redact import shorten_repr
from acs_exporter.sources.formats.reasons import Rejection


class ResponseError(Exception):
    """The body is not a query response. `reason`: Rejection.INVALID_JSON or
    Rejection.INVALID_DOCUMENT; the message says what is wrong and where in the body (no file
    name or workspace: the caller adds its own)."""

    def __init__(self, reason: str, what: str) -> None:
        super().__init__(what)
        self.reason = reason
        self.what = what


@dataclass(frozen=True, slots=True)
class ResultTable:
    name: str
    columns: tuple[str, ...]
    rows: list[Any]  # each row checked by `row_problem` (up front, or as it is read)
    # A large response's rows, parsed a piece at a time (pieces.py); `rows` is then empty.
    # Read the rows through `pieces()`, which covers both.
    streamed: Iterable[list[Any]] | None = None

    def pieces(self) -> Iterator[list[Any]]:
        """The rows in order, as one list or as several."""
        if self.streamed is None:
            yield self.rows
        else:
            yield from self.streamed


@dataclass(frozen=True, slots=True)
class Response:
    tables: list[ResultTable]  # never empty unless `error` is set
    # The service's error object on a partial result; its tables may hold only part of the
    # rows (or be unreadable: then `tables` is empty).
    error: dict[str, Any] | None = None

    @property
    def rows(self) -> int:
        return sum(len(table.rows) for table in self.tables)


def parse_response(payload: bytes) -> Response:
    """Raises ResponseError naming what is wrong and where."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as bad_json:
        raise ResponseError(Rejection.INVALID_JSON, f"response is not JSON ({bad_json})") from None
    if not isinstance(document, dict):
        raise _invalid(f"response is not a JSON object: got {_kind(document)}")
    failure = document.get("error")
    if failure:
        if not isinstance(failure, dict):
            raise _invalid(f"error: expected an object, got {_shown(failure)}")
        try:
            tables = _tables(document.get("tables"))
        except ResponseError:
            tables = []  # what a partial result holds is not counted anyway
        return Response(tables, failure)
    return Response(_tables(document.get("tables")))


def row_problem(row: object, width: int) -> str | None:
    """What is wrong with a row of a table of `width` columns, or None."""
    if type(row) is list and len(row) == width:
        return None
    return f"expected a list of {width} cells, got {_shown(row)}"


def check_rows(table: ResultTable, index: int = 0) -> None:
    """Every row of a table up front (the live client: a response counts whole or not)."""
    check_piece(table.rows, len(table.columns), index)


def check_piece(rows: list[Any], width: int, index: int = 0, first: int = 0) -> None:
    """Rows `first`.. of table `index`, each a list of `width` cells."""
    # A cheap pass over up to 500,000 rows; the second search runs only to name the bad row.
    if all(type(row) is list and len(row) == width for row in rows):
        return
    for r, row in enumerate(rows, start=first):
        problem = row_problem(row, width)
        if problem is not None:
            raise _invalid(f"tables[{index}].rows[{r}]: {problem}")


def _tables(tables: object) -> list[ResultTable]:
    if not tables:
        raise _invalid("response has no tables")
    if not isinstance(tables, list):
        raise _invalid(f"tables: expected a non-empty list, got {_kind(tables)}")
    return [_table(table, t) for t, table in enumerate(tables)]


def _table(table: object, t: int) -> ResultTable:
    if not isinstance(table, dict):
        raise _invalid(f"tables[{t}]: expected an object, got {_shown(table)}")
    columns = _column_names(table, t)
    rows = table.get("rows")
    if rows is None:
        raise _invalid(f"tables[{t}]: no rows")
    if not isinstance(rows, list):
        raise _invalid(f"tables[{t}].rows: expected a list, got {_kind(rows)}")
    return ResultTable(str(table.get("name", f"table{t}")), columns, rows)


def _column_names(table: dict[str, Any], t: int) -> tuple[str, ...]:
    columns = table.get("columns")
    if columns is None:
        raise _invalid(f"tables[{t}]: no columns")
    if not isinstance(columns, list):
        raise _invalid(f"tables[{t}].columns: expected a list, got {_kind(columns)}")
    names = []
    for c, column in enumerate(columns):
        name = column.get("name") if isinstance(column, dict) else None
        if not isinstance(name, str):
            raise _invalid(f"tables[{t}].columns[{c}]: no name in {_shown(column)}")
        names.append(name)
    return tuple(names)


def _invalid(what: str) -> ResponseError:
    return ResponseError(Rejection.INVALID_DOCUMENT, what)


def _kind(value: object) -> str:
    return type(value).__name__


def _shown(value: object) -> str:
    return shorten_repr(value, 120)
