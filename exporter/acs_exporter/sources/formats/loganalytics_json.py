"""Log Analytics query API responses saved to a file (`az monitor log-analytics query` output
is a different, flattened shape; this is the REST API's own JSON):

    {"tables": [{"name": "PrimaryResult", "columns": [{"name", "type"}], "rows": [[...]]}]}

A whole document, not a stream: the position is the number of rows consumed across all tables,
in order. A document that changes is a new document and is read from its start.
"""

from __future__ import annotations

import logging

from acs_exporter.sources.formats.base import UTF8_BOM, ReadRequest, ReadResult
from acs_exporter.sources.formats.fields import ColumnLayout, RecordError
from acs_exporter.sources.formats.reasons import Rejection
from acs_exporter.sources.loganalytics.errors import describe_error_object
from acs_exporter.sources.loganalytics.response import (
    ResponseError,
    ResultTable,
    parse_response,
    row_problem,
)

log = logging.getLogger(__name__)

PROGRESS_EVERY = 4096


class DocumentError(Exception):
    """The file is not a readable query response (reason is the rejection label)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PartialDocument(Exception):
    """The file holds a partial result (the service's error beside its rows): none of its
    rows may count. `rows` is how many it holds, each rejected as `partial_result`."""

    def __init__(self, message: str, rows: int) -> None:
        super().__init__(message)
        self.rows = rows


def parse_document(data: bytes, display: str) -> list[ResultTable]:
    """The document's tables, checked as the live client checks a response (response.py).

    Raises DocumentError when it is not a query response, PartialDocument when it is a
    partial one. Rows are checked as they are read, so one bad row rejects only itself.
    """
    try:
        # A file saved by a Windows tool starts with a byte order mark, which JSON does not allow.
        response = parse_response(data.removeprefix(UTF8_BOM))
    except ResponseError as error:
        raise DocumentError(error.reason, f"{display}: {error.what}") from None
    if response.error is not None:
        raise PartialDocument(
            f"{display}: the query result is partial, none of its {response.rows} rows is "
            f"counted (rejected: {Rejection.PARTIAL_RESULT}); run the export again: "
            f"{describe_error_object(response.error)}",
            response.rows,
        )
    return response.tables


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
            problem = row_problem(row, len(table.columns))
            if problem is not None:
                request.reject(Rejection.INVALID_ROW, where, problem)
                continue
            try:
                result.add(*layout.observation(row))
            except RecordError as error:
                request.reject(error.reason, where, str(error))
        first += len(table.rows)
    result.at_end = True
    request.advance(result.offset - reported)
    return result
