"""CSV exports of ACSCallSummary (Log Analytics "Export to CSV", or any tool using the columns).

The first line names the columns (ParticipantEndReason, ParticipantEndSubCode, ResultCategory,
CallType, EndpointType, ...), matched case-insensitively; the portal's `Name [UTC]` suffix and a
UTF-8 byte order mark are accepted. Quoted fields may span lines. A `Type` column, when present,
tells each row's table; otherwise the end-code column does.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import BinaryIO

from acs_exporter.sources.formats.base import ReadRequest, ReadResult
from acs_exporter.sources.formats.fields import ColumnLayout, RecordError
from acs_exporter.sources.formats.lines import next_line, too_long

PROGRESS_EVERY = 4096
MAX_LINE_BYTES = 1024 * 1024


class _Lines:
    """Decoded lines from a byte offset, remembering how far csv has consumed them."""

    def __init__(
        self,
        f: BinaryIO,
        offset: int,
        line: int,
        size: int,
        final: bool,
        *,
        max_line: int = MAX_LINE_BYTES,
    ) -> None:
        f.seek(offset)
        self._f = f
        self._size = size
        self._final = final
        self._max_line = max_line
        self.too_long: list[tuple[int, int]] = []  # (line, length) skipped since last drained
        self.offset = offset  # after the last line handed out
        self.line = line
        self.at_end = False
        self.bad_encoding = False  # a line of the current record was not UTF-8

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self.offset >= self._size:
            self.at_end = True
            raise StopIteration
        line = next_line(self._f, self._size - self.offset, self._max_line, self._final)
        if line is None:
            self.at_end = True
            raise StopIteration
        self.offset += line.length
        self.line += 1
        raw = line.data
        if raw is None:
            # Skipped, never held whole; csv sees a blank line (read_csv counts the rejection).
            self.too_long.append((self.line, line.length))
            return "\n"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.bad_encoding = True
            text = raw.decode("utf-8", "replace")
        if self.line == 1:
            text = text.removeprefix("\ufeff")
        return text


def read_header(
    f: BinaryIO, size: int, final: bool, max_line: int = MAX_LINE_BYTES
) -> tuple[list[str] | None, int]:
    """The column names and the byte offset after them; None while the header is incomplete."""
    lines = _Lines(f, 0, 0, size, final, max_line=max_line)
    try:
        header = next(csv.reader(lines, strict=True))
    except (StopIteration, csv.Error):
        return None, 0
    return header, lines.offset


def read_csv(request: ReadRequest) -> ReadResult:
    columns, header_end = read_header(request.file, request.size, request.final, request.max_line)
    result = ReadResult(offset=request.offset, line=request.line, at_end=False)
    if columns is None:
        result.at_end = True
        return result
    if result.offset < header_end:
        result.offset, result.line = header_end, 1
    layout = ColumnLayout.of(columns, "the header")
    lines = _Lines(
        request.file,
        result.offset,
        result.line,
        request.size,
        request.final,
        max_line=request.max_line,
    )
    reader = csv.reader(lines, strict=True)
    reported = result.offset
    while result.records < request.limit:
        start_line = lines.line + 1
        where = f"{request.display}:{start_line}"
        lines.bad_encoding = False
        try:
            row = next(reader)
        except StopIteration:
            result.at_end = True
            break
        except csv.Error as error:
            if lines.at_end and not request.final:
                result.at_end = True  # a quoted field still being written
                break
            _reject_too_long(request, result, lines)
            _commit(result, lines)
            result.records += 1
            request.reject("invalid_csv", where, f"invalid CSV: {error}")
            continue
        _reject_too_long(request, result, lines)
        _commit(result, lines)
        if lines.line % PROGRESS_EVERY == 0:
            request.advance(result.offset - reported)
            reported = result.offset
        if not row:
            continue
        result.records += 1
        if lines.bad_encoding:
            request.reject("invalid_encoding", where, "line is not valid UTF-8")
        elif len(row) != len(columns):
            message = f"expected {len(columns)} fields, found {len(row)}"
            request.reject("wrong_field_count", where, message)
        else:
            try:
                result.add(*layout.observation(row))
            except RecordError as error:
                request.reject(error.reason, where, str(error))
    request.advance(result.offset - reported)
    return result


def _reject_too_long(request: ReadRequest, result: ReadResult, lines: _Lines) -> None:
    for line, length in lines.too_long:
        result.records += 1
        where = f"{request.display}:{line}"
        request.reject("line_too_long", where, too_long(length, request.max_line))
    lines.too_long.clear()


def _commit(result: ReadResult, lines: _Lines) -> None:
    result.offset, result.line = lines.offset, lines.line
