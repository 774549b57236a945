"""Diagnostic-settings JSON lines, as Azure Monitor writes them to a storage account.

One record per line: `{"time", "resourceId", "operationName", "category", "properties": {...}}`
with camelCase properties (participantEndReason, participantEndSubCode, resultCategory,
callType, endpointType, ...). The file grows by appended lines; a last line without a newline
may still be being written and is left for the next poll unless the file has stopped growing.
"""

from __future__ import annotations

import orjson

from acs_exporter.definitions import tables
from acs_exporter.definitions.tables import LogTable
from acs_exporter.inputs.redact import shorten_repr
from acs_exporter.sources.formats.base import UTF8_BOM, ReadRequest, ReadResult
from acs_exporter.sources.formats.fields import RecordError, observation_from_properties
from acs_exporter.sources.formats.lines import next_line, too_long
from acs_exporter.sources.formats.reasons import Rejection

# Report progress every this many lines: cheap enough, smooth enough.
PROGRESS_EVERY = 4096


def read_jsonl(request: ReadRequest) -> ReadResult:
    f = request.file
    f.seek(request.offset)
    result = ReadResult(offset=request.offset, line=request.line, at_end=False)
    reported = request.offset
    while result.records < request.limit and not request.stopping(result.records):
        if result.offset >= request.size:
            result.at_end = True
            break
        line = next_line(f, request.size - result.offset, request.max_line, request.final)
        if line is None:
            result.at_end = True  # a partial last line: wait until it is complete
            break
        result.offset += line.length
        result.line += 1
        if result.line % PROGRESS_EVERY == 0:
            request.advance(result.offset - reported)
            reported = result.offset
        raw = line.data
        if result.line == 1 and raw is not None:
            raw = raw.removeprefix(UTF8_BOM)  # Windows tools start a file with one
        where = f"{request.display}:{result.line}"
        if raw is None:
            result.records += 1
            request.reject(Rejection.LINE_TOO_LONG, where, too_long(line.length, request.max_line))
            continue
        if not raw.strip():
            continue
        result.records += 1
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            request.reject(Rejection.INVALID_JSON, where, f"invalid JSON: {error}")
            continue
        try:
            table, properties = _split(record)
            if table is None:
                category = record.get("category") if isinstance(record, dict) else None
                request.reject(
                    Rejection.OTHER_TABLE,
                    where,
                    f"category {category!r} is not {_categories()}",
                )
                continue
            result.add(table, observation_from_properties(properties, table, record))
        except RecordError as error:
            request.reject(error.reason, where, str(error))
    request.advance(result.offset - reported)
    return result


def _categories() -> str:
    """The diagnostic categories of the tables read, for messages: `CallSummary or ...`."""
    return " or ".join(t.aliases[0] if t.aliases else t.name for t in tables.registered())


def _split(record: object) -> tuple[LogTable | None, dict[str, object]]:
    if not isinstance(record, dict):
        raise RecordError(
            Rejection.NOT_AN_OBJECT, f"expected a JSON object, got {shorten_repr(record)}"
        )
    properties = record.get("properties")
    if properties is None:
        raise RecordError(Rejection.MISSING_FIELD, "field properties is missing")
    if isinstance(properties, str):
        # Some pipelines (Event Hubs consumers, older exports) keep properties as JSON text.
        try:
            properties = orjson.loads(properties)
        except orjson.JSONDecodeError as error:
            raise RecordError(
                Rejection.WRONG_TYPE, f"field properties: invalid JSON text: {error}"
            ) from None
    if not isinstance(properties, dict):
        raise RecordError(
            Rejection.WRONG_TYPE,
            f"field properties: expected an object, got {shorten_repr(properties)}",
        )
    if "category" in record:
        return tables.by_spelling(record["category"]), properties
    # No category: a record with the first table's end code (a call summary's) is one of it.
    first = tables.registered()[0]
    if any(key.lower() == first.code.key for key in properties):
        return first, properties
    raise RecordError(Rejection.MISSING_FIELD, "field category is missing")
