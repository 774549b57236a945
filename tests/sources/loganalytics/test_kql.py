"""Every generated query passes Microsoft's Kusto language service and runs on fixture data."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acs_exporter.definitions.tables import CALL_SUMMARY, MEDIA_SUMMARY
from acs_exporter.sources.loganalytics.kql import QuerySpec, Window, timespan
from acs_exporter.sources.loganalytics.timestamps import (
    canonical,
    format_ticks,
    parse_ticks,
    ticks_from_datetime,
)

from .fake_server import FakeLogAnalytics, parse_timespan
from .kusto import KustoChecker

LOOKBACK = timedelta(days=3)
WINDOWS = [
    Window.from_text("2026-11-25T10:00:00.1234567Z", "2026-11-25T10:05:00.0000000Z"),
    Window.from_text("2026-01-01T00:00:00Z", "2026-01-01T00:00:00.0000001Z"),
    Window.from_text("2025-12-31T23:59:59.9999999Z", "2026-01-01T01:00:00Z"),
]
LABEL_SETS = [(), ("call_type",), ("call_type", "endpoint_type", "participant_type")]
SPECS = [
    QuerySpec(CALL_SUMMARY, mode, labels)
    for mode, labels in itertools.product(("aggregated", "raw"), LABEL_SETS)
] + [QuerySpec(MEDIA_SUMMARY, mode) for mode in ("aggregated", "raw")]

EXPECTED_TYPES = {
    "Code": {"ACSCallSummary": "string", "ACSCallAutomationMediaSummary": "int"},
    "Subcode": {"ACSCallSummary": "string", "ACSCallAutomationMediaSummary": "int"},
}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.table}-{s.mode}-{len(s.labels)}")
@pytest.mark.parametrize("window", WINDOWS, ids=str)
def test_every_query_variant_is_valid_kusto(
    kusto: KustoChecker, spec: QuerySpec, window: Window
) -> None:
    query = spec.render(window, lookback=LOOKBACK)
    analysis = kusto.analyze(query)
    assert analysis.diagnostics == (), [d.describe(query) for d in analysis.diagnostics]
    names = tuple(name for name, _ in analysis.columns)
    assert names == spec.result_columns()
    types = dict(analysis.columns)
    assert types["Ingested"] == "string"  # carried as text: full precision
    assert types["Code"] == EXPECTED_TYPES["Code"][spec.table.name]
    assert types["Subcode"] == EXPECTED_TYPES["Subcode"][spec.table.name]
    if spec.mode == "aggregated":
        assert types["n"] == "long"


def test_window_literals_keep_full_precision_and_prune_two_days_back() -> None:
    window = WINDOWS[0]
    query = QuerySpec(CALL_SUMMARY).render(window, lookback=LOOKBACK)
    assert "ingestion_time() > datetime(2026-11-25T10:00:00.1234567Z)" in query
    assert "ingestion_time() <= datetime(2026-11-25T10:05:00.0000000Z)" in query
    assert "TimeGenerated > datetime(2026-11-22T10:00:00.1234567Z)" in query
    assert "summarize n = count()" in query
    assert (
        "by Code = ParticipantEndReason, Subcode = ParticipantEndSubCode, ResultCategory" in query
    )


def test_timespan_covers_the_time_generated_bound() -> None:
    window = WINDOWS[0]
    start, end = parse_timespan(timespan(window, lookback=LOOKBACK), datetime.now(UTC))
    assert ticks_from_datetime(start) <= window.start - 3 * 86_400 * 10_000_000
    assert ticks_from_datetime(end) > window.end


def test_labels_only_for_call_summary() -> None:
    with pytest.raises(ValueError, match="labels"):
        QuerySpec(MEDIA_SUMMARY, labels=("call_type",))


@given(st.integers(0, 10**17), st.integers(0, 10**12))
def test_split_windows_are_disjoint_and_cover(start: int, length: int) -> None:
    window = Window(start, start + length)
    left, right = window.split()
    assert left.start == window.start
    assert left.end == right.start
    assert right.end == window.end


@given(st.integers(0, 2**62 // 1000))
def test_ticks_round_trip(ticks: int) -> None:
    assert parse_ticks(format_ticks(ticks)) == ticks


def test_timestamp_spellings() -> None:
    assert canonical("2026-11-25T10:00:00Z") == "2026-11-25T10:00:00.0000000Z"
    assert canonical("2026-11-25T10:00:00.5Z") == "2026-11-25T10:00:00.5000000Z"
    assert canonical("2026-11-25T10:00:00.1234567Z") == "2026-11-25T10:00:00.1234567Z"


def test_generated_queries_execute_on_fixture_data(server: FakeLogAnalytics, clock: object) -> None:
    """Aggregated and raw queries agree with the fixture's ground truth, window by window."""
    base = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    server.add_workspace("ws")
    records = []
    for i in range(300):
        code = ["0", "487", "500", "", None, "abc"][i % 6]
        records.append(
            {
                "TimeGenerated": base - timedelta(hours=(i % 7) * 6),  # some back-dated 36h
                "ParticipantEndReason": code,
                "ParticipantEndSubCode": str(i % 3),
                "ResultCategory": "Success" if code == "0" else "",
                "CallType": "P2P" if i % 2 else "Group",
                "_IngestedAt": base + timedelta(seconds=i * 7, microseconds=i),
            }
        )
    server.add_records("ws", "ACSCallSummary", records)
    edges = [base - timedelta(seconds=1), base + timedelta(minutes=10), base + timedelta(hours=1)]
    for lo, hi in itertools.pairwise(edges):
        window = Window(ticks_from_datetime(lo), ticks_from_datetime(hi))
        truth = [r for r in records if lo < r["_IngestedAt"] <= hi]
        agg, _ = server.execute(
            ["ws"],
            QuerySpec(CALL_SUMMARY, "aggregated", ("call_type",)).render(window, lookback=LOOKBACK),
            timespan(window, lookback=LOOKBACK),
        )
        raw, _ = server.execute(
            ["ws"],
            QuerySpec(CALL_SUMMARY, "raw").render(window, lookback=LOOKBACK),
            timespan(window, lookback=LOOKBACK),
        )
        assert agg is not None
        assert raw is not None
        agg_rows = agg["tables"][0]["rows"]
        assert sum(row[4] for row in agg_rows) == len(truth)
        assert len(raw["tables"][0]["rows"]) == len(truth)
        expected_max = max(r["_IngestedAt"] for r in truth)
        assert max(parse_ticks(row[5]) for row in agg_rows) == ticks_from_datetime(expected_max)


def test_server_intersects_timespan_with_time_generated(server: FakeLogAnalytics) -> None:
    """As Log Analytics does: a record outside the REST timespan is not seen by the query."""
    base = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    server.add_workspace("ws")
    server.add_records(
        "ws",
        "ACSCallSummary",
        [
            {"TimeGenerated": base - timedelta(days=5), "_IngestedAt": base},
            {"TimeGenerated": base - timedelta(hours=1), "_IngestedAt": base},
        ],
    )
    query = "ACSCallSummary | count"
    inside, _ = server.execute(["ws"], query, "P1D")
    everything, _ = server.execute(["ws"], query, None)
    assert inside is not None
    assert everything is not None
    assert inside["tables"][0]["rows"] == [[1]]
    assert everything["tables"][0]["rows"] == [[2]]


def test_server_rejects_invalid_kql_like_log_analytics(server: FakeLogAnalytics) -> None:
    from .fake_server import QueryError

    server.add_workspace("ws")
    with pytest.raises(QueryError) as caught:
        server.execute(["ws"], "ACSCallSummary | where NoSuchColumn == 1", None)
    assert caught.value.status == 400
    assert caught.value.code == "BadArgumentError"
    # As the service nests it: SemanticError, then the engine's own code and message.
    assert caught.value.inner is not None
    assert caught.value.inner["code"] == "SemanticError"
    assert caught.value.inner["innererror"]["code"] == "KS142"
