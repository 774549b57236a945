"""A large response's rows read in pieces are exactly the rows of a whole parse.

Pieces are made small here (`PIECE_BYTES`) so that every kind of cut is tried on small bodies:
cells holding the very patterns the cuts look for (`],[`, `]]`, `"rows":[`), escapes,
whitespace between tokens, bad rows in a late piece, a body cut short.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from itertools import chain
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acs_exporter.sources.base import SourceError
from acs_exporter.sources.loganalytics import client, errors, pieces
from acs_exporter.sources.loganalytics.client import parse

from .conftest import Clock, Factory
from .fake_server import FakeLogAnalytics
from .test_source import WS, call, start, totals

COLUMNS = [{"name": name, "type": "string"} for name in ("Code", "Subcode", "Ingested")]
TRICKY = ["],[", "]]", '"rows":[', '\\"],["', "]\n]", "\\", "é\u2028", "", "0"]


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pieces, "PIECE_BYTES", 64)


def body(rows: list[Any], *, indent: int | None = None, **extra: Any) -> bytes:
    document = {"tables": [{"name": "PrimaryResult", "columns": COLUMNS, "rows": rows}], **extra}
    if indent is None:
        return orjson.dumps(document)
    return json.dumps(document, indent=indent).encode()


def rows_read(payload: bytes) -> list[Any]:
    table = parse(payload, where="test")
    return list(chain.from_iterable(table.pieces()))


def tricky_rows(count: int) -> list[list[Any]]:
    return [
        [TRICKY[i % len(TRICKY)], TRICKY[(i * 7) % len(TRICKY)], f"2026-11-25T12:00:{i % 60:02d}Z"]
        for i in range(count)
    ]


@pytest.mark.parametrize("indent", [None, 1])
def test_rows_in_pieces_equal_the_whole_parse_whatever_the_cells_hold(indent: int | None) -> None:
    rows = tricky_rows(300)
    payload = body(rows, indent=indent)
    split = pieces.split_response(payload)
    assert split is not None
    assert len(split[1].cuts) > 10, "the body is read in many pieces"
    assert rows_read(payload) == rows


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(st.sampled_from(TRICKY), st.text(max_size=12), st.none()),
            min_size=3,
            max_size=3,
        ),
        min_size=1,
        max_size=80,
    )
)
def test_any_cells_read_in_pieces_equal_the_whole_parse(rows: list[list[Any]]) -> None:
    assert rows_read(body(rows)) == rows


def test_a_bad_row_in_a_late_piece_is_named_by_its_place_in_the_whole_result() -> None:
    rows: list[Any] = tricky_rows(200)
    rows[157] = ["0", "0"]
    with pytest.raises(SourceError, match=r"rows\[157\]: expected a list of 3 cells") as caught:
        rows_read(body(rows))
    assert caught.value.reason == "server_error"


def test_a_body_cut_short_is_not_json_as_when_parsed_whole() -> None:
    payload = body(tricky_rows(200))[:-30]
    with pytest.raises(SourceError, match="response is not JSON"):
        rows_read(payload)


def test_a_large_partial_result_is_not_counted() -> None:
    payload = body(tricky_rows(200), error={"code": "PartialError", "message": "some failed"})
    with pytest.raises(SourceError, match="partial result, not counted") as caught:
        rows_read(payload)
    assert caught.value.reason == "partial"


def test_a_result_at_the_row_limit_is_truncated_once_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "ROW_LIMIT", 200)
    with pytest.raises(errors.Truncated, match="200 rows"):
        rows_read(body(tricky_rows(200)))
    assert len(rows_read(body(tricky_rows(199)))) == 199


def test_a_second_table_is_never_read_as_rows_of_the_first() -> None:
    # The cuts run on into the second table's rows; the piece across the two does not parse,
    # and the rest comes from the whole parse.
    rows = tricky_rows(200)
    two = orjson.loads(body(rows))
    two["tables"].append({**two["tables"][0], "rows": [["x", "y", "z"]] * 50})
    assert rows_read(orjson.dumps(two)) == rows


def test_bodies_under_two_pieces_are_parsed_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pieces, "PIECE_BYTES", 4096)
    rows = tricky_rows(200)
    assert len(body(rows)) < 2 * 4096
    assert pieces.split_response(body(rows)) is None
    assert rows_read(body(rows)) == rows


@pytest.mark.parametrize("mode", ["aggregated", "raw"])
def test_a_source_reading_every_response_in_pieces_counts_the_same(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory, mode: str
) -> None:
    """Through the real SDK and the local server, every response (64-byte pieces: each a few
    rows) gives the counts, the watermark and the cursor of the whole parse."""
    server.add_workspace(WS)
    source = make_source(mode=mode, extra_labels=["call_type"])
    cursor = start(source)
    t0 = clock.now
    records = [
        call(t0 + timedelta(seconds=i), code=str(400 + i % 3), call_type=TRICKY[i % len(TRICKY)])
        for i in range(90)
    ]
    server.add_records(WS, "ACSCallSummary", records)
    clock.advance(timedelta(minutes=5))
    batch = source.fetch(cursor)
    expected = Counter(
        (r["ParticipantEndReason"], "0", "Success", (("call_type", r["CallType"]),))
        for r in records
    )
    assert totals([batch]) == expected
    latest = max(r["_IngestedAt"] for r in records)
    assert batch.watermark == latest
