"""A large response's rows parsed a piece at a time, so memory stays bounded and cost flat.

A raw-mode response is one row per record: parsed whole, 300k rows are ~440 MB of Python lists
and strings alive at once (1.5 kB per row, against 80 bytes of JSON), and the per-row cost grows
with it (memory first touched, caches missed). Instead the body is cut at row boundaries into
pieces of about `PIECE_BYTES`, each parsed by orjson on its own and counted before the next is
parsed: alive at once are the body, one piece and the counts.

    {"tables": [{"name": ..., "columns": [...], "rows": [ [..], ... | [..], ... | [..] ]}]}
                                                         ^ start    ^ cuts      end ^

The document with its rows array emptied (the skeleton) is parsed and checked by
`response.parse_response`, like any response: the error object of a partial result, the table
and its columns. The cuts are found by pattern (`],[` between rows, `]]` at the end) and proven
by the parse: a cut that fell inside a string leaves a piece that is not JSON, and then the rest
of the rows come from parsing the whole body once (which also names what is wrong, if anything
is), so the rows are always exactly those of a whole parse: pieces that each parse as a list
of values, cut at the commas between them, make up one array exactly, from the first row's `[`
to the `]` the skeleton was cut at. Small bodies are parsed whole; so, once a piece fails, are
bodies of several tables (the cuts run on into the next table; our queries return one).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from acs_exporter.sources.formats.reasons import Rejection
from acs_exporter.sources.loganalytics.response import (
    Response,
    ResponseError,
    parse_response,
)

PIECE_BYTES = 1 << 20  # ~13k raw rows of ~80 bytes: a few MB of objects alive at once
_ROWS = re.compile(rb'"rows"\s*:\s*\[')
_BETWEEN_ROWS = re.compile(rb"\]\s*,\s*\[")
_LAST_ROW_END = re.compile(rb"\]\s*\]")
_FALLBACK_ROWS = 10_000
_END_TRIES = 8  # `]]` inside the last row's strings: try a few, then parse whole


@dataclass(frozen=True)
class RowPieces:
    """The rows of `tables[0]` of `payload`, as lists of rows, in order."""

    payload: bytes
    cuts: tuple[tuple[int, int], ...]  # [start, end) of each piece's rows, without brackets

    def __iter__(self) -> Iterator[list[Any]]:
        done = 0
        for start, end in self.cuts:
            try:
                rows = orjson.loads(b"[" + self.payload[start:end] + b"]")
            except orjson.JSONDecodeError:
                yield from self._whole_from(done)
                return
            done += len(rows)
            yield rows
            del rows  # not alive while the next piece is parsed

    def _whole_from(self, done: int) -> Iterator[list[Any]]:
        """The rows after the first `done`, from one parse of the whole body (a cut was wrong,
        or the body is malformed: then this raises the ResponseError naming where)."""
        response = parse_response(self.payload)
        if response.error is not None or not response.tables:
            raise ResponseError(
                Rejection.INVALID_DOCUMENT, f"tables[0].rows: unreadable after row {done}"
            )
        rows = response.tables[0].rows
        for first in range(done, len(rows), _FALLBACK_ROWS):
            yield rows[first : first + _FALLBACK_ROWS]


def split_response(payload: bytes) -> tuple[Response, RowPieces] | None:
    """The skeleton's response (its table's rows empty) and the rows in pieces, or None when
    the body is small or not one plain table (the caller parses it whole). Raises
    ResponseError from the skeleton's checks."""
    if len(payload) < 2 * PIECE_BYTES:
        return None
    # The first `"rows": [` is the first table's (column objects hold no such key). A second
    # table shows in the skeleton; a `"rows"` key inside a cell is a cell the count refuses.
    key = _ROWS.search(payload)
    if key is None:
        return None
    start = key.end()
    cuts = []
    while True:
        between = _BETWEEN_ROWS.search(payload, start + PIECE_BYTES)
        if between is None:
            break
        cuts.append((start, between.start() + 1))
        start = between.end() - 1
    for tries, end in enumerate(_LAST_ROW_END.finditer(payload, start)):
        if tries == _END_TRIES:
            return None
        close = end.end() - 1  # the rows array's own `]`
        try:
            skeleton = parse_response(payload[: key.end()] + payload[close:])
        except ResponseError:
            continue
        if _one_empty_table(skeleton):
            return skeleton, RowPieces(payload, (*cuts, (start, end.start() + 1)))
    return None


def _one_empty_table(response: Response) -> bool:
    return len(response.tables) == 1 and response.tables[0].rows == []
