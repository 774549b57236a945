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
from acs_exporter.sources.formats.fields import ColumnLayout, RecordError, normalise_column
from acs_exporter.sources.formats.lines import next_line, too_long
from acs_exporter.sources.formats.reasons import Rejection

PROGRESS_EVERY = 4096
MAX_LINE_BYTES = 1024 * 1024


class _RecordTooLong(Exception):
    """The record's lines (quoted fields spanning lines) passed the line cap together."""


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
        self.record_bytes = 0  # bytes of the current record's lines so far

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
        self.record_bytes += line.length
        if self.record_bytes > self._max_line + 1:
            # Lines joined by quoted newlines are one record: the cap bounds it too, or csv
            # would gather an unbounded list of fields across lines.
            raise _RecordTooLong
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.bad_encoding = True
            text = raw.decode("utf-8", "replace")
        if self.line == 1:
            text = text.removeprefix("\ufeff")
        return text


class BadHeader(Exception):
    """The header of a finished file cannot be read: none of its rows can be."""

    def __init__(self, reason: Rejection, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def read_header(
    f: BinaryIO, size: int, final: bool, max_line: int = MAX_LINE_BYTES
) -> tuple[list[str] | None, int]:
    """The column names and the byte offset after them; None while the header is incomplete.
    Raises BadHeader when it is complete (or can no longer grow) and cannot be read."""
    lines = _Lines(f, 0, 0, size, final, max_line=max_line)
    try:
        header = next(csv.reader(lines, strict=True))
    except StopIteration:
        return None, 0
    except _RecordTooLong:
        raise BadHeader(Rejection.LINE_TOO_LONG, _header_too_long(max_line)) from None
    except csv.Error as error:
        if lines.at_end and not final:
            return None, 0  # a quoted name still being written
        raise BadHeader(Rejection.INVALID_CSV, f"invalid CSV header: {error}") from None
    if lines.too_long:
        raise BadHeader(Rejection.LINE_TOO_LONG, _header_too_long(max_line))
    _check_names(header)
    return header, lines.offset


def _header_too_long(max_line: int) -> str:
    return f"the header (line 1) is longer than {max_line} bytes (see max_line_bytes)"


def _check_names(header: list[str]) -> None:
    """Refuse what would leave a row's fields ambiguous: no names, or one name twice (a
    hand-merged export: the last column of that name would silently win)."""
    if not any(name.strip() for name in header):
        raise BadHeader(Rejection.INVALID_CSV, "the header (line 1) is empty")
    first: dict[str, tuple[int, str]] = {}
    for number, name in enumerate(header, start=1):
        key = normalise_column(name)
        if key in first:
            earlier, spelt = first[key]
            raise BadHeader(
                Rejection.INVALID_CSV,
                f"the header names {spelt} twice (columns {earlier} and {number}, {name.strip()})",
            )
        first[key] = number, name.strip()


def read_csv(request: ReadRequest) -> ReadResult:
    result = ReadResult(offset=request.offset, line=request.line, at_end=False)
    try:
        columns, header_end = read_header(
            request.file, request.size, request.final, request.max_line
        )
    except BadHeader as bad:
        # Once for the file, which is then skipped until it is replaced (its rows cannot be
        # told apart, and appending to it will not mend its first line).
        result.records, result.at_end, result.failed = 1, True, True
        request.reject(
            bad.reason,
            f"{request.display}:1",
            f"{bad} (the whole file is skipped until it changes)",
        )
        return result
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
    while result.records < request.limit and not request.stopping(result.records):
        start_line = lines.line + 1
        where = f"{request.display}:{start_line}"
        lines.bad_encoding = False
        lines.record_bytes = 0
        try:
            row = next(reader)
        except StopIteration:
            result.at_end = True
            break
        except _RecordTooLong:
            _reject_cut_record(request, result, lines, where, start_line)
            reader = csv.reader(lines, strict=True)  # the old one is inside the cut record
            continue
        except csv.Error as error:
            if lines.at_end and not request.final:
                result.at_end = True  # a quoted field still being written
                break
            _reject_too_long(request, result, lines)
            _commit(result, lines)
            result.records += 1
            request.reject(Rejection.INVALID_CSV, where, f"invalid CSV: {error}")
            continue
        _reject_too_long(request, result, lines)
        _commit(result, lines)
        if lines.line % PROGRESS_EVERY == 0:
            request.advance(result.offset - reported)
            reported = result.offset
        if row:
            _count_row(
                request,
                result,
                row,
                layout=layout,
                width=len(columns),
                where=where,
                bad_encoding=lines.bad_encoding,
            )
    request.advance(result.offset - reported)
    return result


def _count_row(
    request: ReadRequest,
    result: ReadResult,
    row: list[str],
    *,
    layout: ColumnLayout,
    width: int,
    where: str,
    bad_encoding: bool,
) -> None:
    result.records += 1
    if bad_encoding:
        request.reject(Rejection.INVALID_ENCODING, where, "line is not valid UTF-8")
    elif len(row) != width:
        request.reject(
            Rejection.WRONG_FIELD_COUNT, where, f"expected {width} fields, found {len(row)}"
        )
    else:
        try:
            result.add(*layout.observation(row))
        except RecordError as error:
            request.reject(error.reason, where, str(error))


def _reject_cut_record(
    request: ReadRequest, result: ReadResult, lines: _Lines, where: str, start_line: int
) -> None:
    _reject_too_long(request, result, lines)
    _commit(result, lines)
    result.records += 1
    message = (
        f"CSV record over lines {start_line}-{lines.line} longer than "
        f"{request.max_line} bytes (cut there; see max_line_bytes)"
    )
    request.reject(Rejection.LINE_TOO_LONG, where, message)


def _reject_too_long(request: ReadRequest, result: ReadResult, lines: _Lines) -> None:
    for line, length in lines.too_long:
        result.records += 1
        where = f"{request.display}:{line}"
        request.reject(Rejection.LINE_TOO_LONG, where, too_long(length, request.max_line))
    lines.too_long.clear()


def _commit(result: ReadResult, lines: _Lines) -> None:
    result.offset, result.line = lines.offset, lines.line
