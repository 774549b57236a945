"""Log Analytics query API responses saved to a file (`az monitor log-analytics query` output
is a different, flattened shape; this is the REST API's own JSON):

    {"tables": [{"name": "PrimaryResult", "columns": [{"name", "type"}], "rows": [[...]]}]}

A whole document, not a stream: the position is the number of rows consumed across all tables,
in order. A document that changes is a new document and is read from its start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson

from acs_exporter.sources.formats.base import ReadRequest, ReadResult
from acs_exporter.sources.formats.fields import ColumnLayout, RecordError

log = logging.getLogger(__name__)

PROGRESS_EVERY = 4096


class DocumentError(Exception):
    """The file is not a readable query response (reason is the rejection label)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ResultTable:
    name: str
    columns: list[str]
    rows: list[object]


def parse_document(data: bytes, display: str) -> list[ResultTable]:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise DocumentError("invalid_json", f"{display}: invalid JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("tables"), list):
        raise DocumentError("invalid_document", f"{display}: expected an object with a tables list")
    partial = document.get("error")
    if partial:
        # HTTP 200 with an error (PartialError): the tables hold only part of the result.
        log.warning("%s: the query result is partial, its rows still count: %s", display, partial)
    tables = []
    for t, table in enumerate(document["tables"]):
        where = f"{display}: tables[{t}]"
        if not isinstance(table, dict):
            raise DocumentError("invalid_document", f"{where}: expected an object")
        columns, rows = table.get("columns"), table.get("rows")
        if not isinstance(columns, list) or not isinstance(rows, list):
            raise DocumentError("invalid_document", f"{where}: expected columns and rows lists")
        names = []
        for c, column in enumerate(columns):
            name = column.get("name") if isinstance(column, dict) else None
            if not isinstance(name, str):
                raise DocumentError(
                    "invalid_document", f'{where}.columns[{c}]: expected {{"name": ...}}'
                )
            names.append(name)
        tables.append(ResultTable(str(table.get("name", f"table{t}")), names, rows))
    return tables


def read_loganalytics_json(request: ReadRequest, tables: list[ResultTable]) -> ReadResult:
    result = ReadResult(offset=request.offset, line=request.line, at_end=False)
    first = 0  # global index of the current table's first row
    reported = request.offset
    for t, table in enumerate(tables):
        if result.offset >= first + len(table.rows):
            first += len(table.rows)
            continue
        layout = ColumnLayout.of(table.columns, f"table {table.name}")
        for r in range(result.offset - first, len(table.rows)):
            if result.records >= request.limit or request.stopping(result.records):
                request.advance(result.offset - reported)
                return result
            row = table.rows[r]
            result.offset += 1
            result.records += 1
            if result.offset % PROGRESS_EVERY == 0:
                request.advance(result.offset - reported)
                reported = result.offset
            where = f"{request.display}: tables[{t}].rows[{r}]"
            if not isinstance(row, list) or len(row) != len(table.columns):
                request.reject(
                    "invalid_row", where, f"expected a list of {len(table.columns)} values"
                )
                continue
            try:
                result.add(*layout.observation(row))
            except RecordError as error:
                request.reject(error.reason, where, str(error))
        first += len(table.rows)
    result.at_end = True
    request.advance(result.offset - reported)
    return result
