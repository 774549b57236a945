"""LogAnalyticsSource against the local Log Analytics server, through the real SDK pipeline."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, MEDIA_SUMMARY, LabelPlan, LogTable
from acs_exporter.pipeline.backoff import Backoff
from acs_exporter.pipeline.daemon import Exporter, poll_once
from acs_exporter.sources.base import Batch, Cursor, Observation, SourceError
from acs_exporter.sources.loganalytics.cursor import CURSOR_FORMAT, load_cursor
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from acs_exporter.sources.loganalytics.source import LogAnalyticsSource, specs_for
from acs_exporter.sources.loganalytics.timestamps import (
    format_ticks,
    parse_ticks,
    ticks_from_datetime,
)

from .conftest import Clock, Factory
from .fake_server import FakeCredential, FakeLogAnalytics, Fault
from .kusto import KustoChecker

WS = "11111111-1111-1111-1111-111111111111"
WS2 = "22222222-2222-2222-2222-222222222222"
RESOURCE = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.Communication/CommunicationServices/acs-prod"
)


def call(ingested: datetime, code: Any = "0", sub: Any = "0", cat: str = "Success", **kw: Any):
    return {
        "TimeGenerated": ingested - timedelta(minutes=5),
        "ParticipantEndReason": code,
        "ParticipantEndSubCode": sub,
        "ResultCategory": cat,
        "CallType": kw.get("call_type", "Group"),
        "EndpointType": kw.get("endpoint_type", "VoIP"),
        "ParticipantType": "ACS",
        "_IngestedAt": ingested,
    }


def totals(batches: list[Batch], table: LogTable = CALL_SUMMARY) -> Counter[tuple[Any, ...]]:
    counts: Counter[tuple[Any, ...]] = Counter()
    for batch in batches:
        for obs in batch.of(table):
            counts[(obs.code, obs.subcode, obs.service_category, obs.dimensions)] += obs.n
    return counts


def start(source: LogAnalyticsSource) -> Cursor:
    """The first fetch only establishes the starting point (initial_lookback 0)."""
    batch = source.fetch(None)
    assert batch.of(CALL_SUMMARY) == []
    return batch.cursor


@pytest.mark.parametrize("mode", ["aggregated", "raw"])
def test_counts_each_record_once_across_polls_with_late_arrivals(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory, mode: str
) -> None:
    server.add_workspace(WS)
    source = make_source(mode=mode)
    cursor = start(source)
    t0 = clock.now
    records = [call(t0 + timedelta(seconds=10 * i), code=str(400 + i % 3)) for i in range(60)]
    # Late arrivals: generated long ago, ingested now-ish.
    late = call(t0 + timedelta(seconds=95), code="487", cat="ExpectedError")
    late["TimeGenerated"] = t0 - timedelta(hours=40)
    records.append(late)
    server.add_records(WS, "ACSCallSummary", records)
    batches = []
    for _ in range(20):
        clock.advance(timedelta(seconds=45))
        batch = source.fetch(cursor)
        batches.append(batch)
        cursor = batch.cursor
    got = totals(batches)
    expected = Counter(
        (r["ParticipantEndReason"], r["ParticipantEndSubCode"], r["ResultCategory"], ())
        for r in records
    )
    assert got == expected
    assert all(b.caught_up for b in batches)
    # Watermark = the latest ingestion time read (full precision), as text.
    watermark = saved_tables(orjson.loads(orjson.dumps(cursor)))["ACSCallSummary"][
        f"workspace:{WS}"
    ]
    assert watermark.endswith("Z")
    assert len(watermark) == len("2026-11-25T12:00:00.1234567Z")


def saved_tables(cursor: Cursor) -> dict[str, Any]:
    """The positions inside a Log Analytics cursor's envelope, as saved (not re-read)."""
    tables = CURSOR_FORMAT.unwrap(cursor)
    assert isinstance(tables, dict), cursor
    return tables


def test_aggregated_and_raw_agree_and_aggregated_returns_few_rows(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    server.add_workspace(WS)
    agg = make_source(mode="aggregated", extra_labels=["endpoint_type", "call_type"])
    raw = make_source(mode="raw", extra_labels=["call_type", "endpoint_type"])
    cursors = [start(agg), start(raw)]
    t0 = clock.now
    records = [
        call(
            t0 + timedelta(milliseconds=37 * i),
            code=["0", "487", "500", "", None][i % 5],
            sub=str(i % 2),
            cat="" if i % 5 > 2 else "Success",
            call_type=["P2P", "Group"][i % 2],
        )
        for i in range(1000)
    ]
    server.add_records(WS, "ACSCallSummary", records)
    clock.advance(timedelta(minutes=5))
    batch_agg = agg.fetch(cursors[0])
    batch_raw = raw.fetch(cursors[1])
    assert totals([batch_agg]) == totals([batch_raw])
    assert sum(o.n for o in batch_agg.of(CALL_SUMMARY)) == 1000
    assert len(batch_agg.of(CALL_SUMMARY)) <= 20
    dims = {o.dimensions for o in batch_agg.of(CALL_SUMMARY)}
    assert (("call_type", "P2P"), ("endpoint_type", "VoIP")) in dims
    # Empty category becomes None; junk codes stay raw for the catalog to judge.
    codes = {(o.code, o.service_category) for o in batch_agg.of(CALL_SUMMARY)}
    assert ("", None) in codes
    assert (None, None) in codes
    assert batch_agg.cursor == batch_raw.cursor


def test_media_summary_observations_carry_the_operation(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    server.add_workspace(WS)
    source = make_source(tables=["ACSCallSummary", "ACSCallAutomationMediaSummary"])
    cursor = start(source)
    t0 = clock.now
    media = [
        {
            "TimeGenerated": t0,
            "OperationName": ["Play", "Recognize"][i % 2],
            "ResultCode": [200, 400][i % 2],
            "ResultSubcode": [0, 8510][i % 2],
            "ResultType": "Completed",
            "_IngestedAt": t0 + timedelta(seconds=i + 1),
        }
        for i in range(10)
    ]
    server.add_records(WS, "ACSCallAutomationMediaSummary", media)
    clock.advance(timedelta(minutes=3))
    batch = source.fetch(cursor)
    assert totals([batch], MEDIA_SUMMARY) == Counter(
        {
            (200, 0, None, (("operation", "Play"),)): 5,
            (400, 8510, None, (("operation", "Recognize"),)): 5,
        }
    )
    assert batch.of(CALL_SUMMARY) == []
    assert set(saved_tables(batch.cursor)) == {
        "ACSCallSummary",
        "ACSCallAutomationMediaSummary",
    }


def test_several_workspaces_share_one_query_and_resources_get_their_own(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    server.add_workspace(WS)
    server.add_workspace(WS2)
    server.add_workspace("33333333-3333-3333-3333-333333333333", resource_ids=[RESOURCE])
    source = make_source(workspace_ids=[WS, WS2], resource_ids=[RESOURCE])
    cursor = start(source)
    t0 = clock.now
    for ws in (WS, WS2, "33333333-3333-3333-3333-333333333333"):
        server.add_records(ws, "ACSCallSummary", [call(t0 + timedelta(seconds=5))])
    clock.advance(timedelta(minutes=3))
    batch = source.fetch(cursor)
    assert sum(o.n for o in batch.of(CALL_SUMMARY)) == 3
    paths = server.stats.paths[-2:]
    assert sorted(paths) == sorted([f"/v1/workspaces/{WS}/query", f"/v1{RESOURCE}/query"])
    bodies = [b for b, p in zip(server.stats.bodies, server.stats.paths, strict=True) if WS in p]
    assert bodies[-1]["workspaces"] == [WS2]


def test_request_carries_prefer_wait_timespan_and_audience(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    server.add_workspace(WS)
    credential = FakeCredential()
    source = make_source(
        credential=credential,
        poll_interval=timedelta(seconds=30),
        audience="https://api.loganalytics.azure.cn",
    )
    cursor = start(source)
    clock.advance(timedelta(minutes=1))
    source.fetch(cursor)
    assert server.stats.prefer[-1] == "wait=22"  # below the 30 s poll interval
    assert credential.scopes[-1] == ("https://api.loganalytics.azure.cn/.default",)
    body = server.stats.bodies[-1]
    assert body["timespan"].count("/") == 1
    assert "ingestion_time() > datetime(" in body["query"]


def test_first_start_with_initial_lookback_reads_the_past(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    server.add_workspace(WS)
    server.add_records(WS, "ACSCallSummary", [call(clock.now - timedelta(minutes=30))])
    source = make_source(initial_lookback=timedelta(hours=1))
    batch = source.fetch(None)
    assert sum(o.n for o in batch.of(CALL_SUMMARY)) == 1


def test_catch_up_after_downtime_in_bounded_windows(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    server.add_workspace(WS)
    source = make_source(max_window=timedelta(minutes=30))
    cursor = start(source)
    t0 = clock.now
    server.add_records(
        WS, "ACSCallSummary", [call(t0 + timedelta(minutes=i + 1)) for i in range(180)]
    )
    clock.advance(timedelta(hours=3, minutes=2))
    batches = []
    while True:
        batch = source.fetch(cursor)
        batches.append(batch)
        cursor = batch.cursor
        if batch.caught_up:
            break
    assert len(batches) >= 6
    assert not batches[0].caught_up
    assert sum(o.n for b in batches for o in b.of(CALL_SUMMARY)) == 180
    assert batches[-1].watermark is not None


def test_truncated_result_splits_the_window_and_never_skips(
    kusto: KustoChecker, clock: Clock
) -> None:
    with FakeLogAnalytics(kusto, clock=clock, row_limit=50) as server:
        server.add_workspace(WS)
        source = LogAnalyticsSource(
            LogAnalyticsSettings(
                type="log_analytics",
                workspace_ids=[WS],
                endpoint=server.url,
                tls_ca_file=server.ca_file,
                mode="raw",
            ),
            credential=FakeCredential(),
            clock=clock,
        )
        try:
            cursor = start(source)
            t0 = clock.now
            server.add_records(
                WS,
                "ACSCallSummary",
                [call(t0 + timedelta(milliseconds=200 * i + 1)) for i in range(300)],
            )
            clock.advance(timedelta(minutes=3))
            batches = []
            for _ in range(30):
                batch = source.fetch(cursor)
                batches.append(batch)
                cursor = batch.cursor
                if batch.caught_up:
                    break
            assert not batches[0].caught_up
            assert sum(o.n for b in batches for o in b.of(CALL_SUMMARY)) == 300
        finally:
            source.close()


def test_forced_truncation_of_a_tiny_window_is_an_error(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    server.add_workspace(WS)
    source = make_source()
    cursor = start(source)
    server.add_records(WS, "ACSCallSummary", [call(clock.now + timedelta(milliseconds=1))])
    clock.advance(timedelta(seconds=1))
    server.inject(*[Fault.truncate()] * 40)
    with pytest.raises(SourceError) as caught:
        source.fetch(cursor)
    assert caught.value.reason == "truncated"


def _one_record(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> tuple[LogAnalyticsSource, Cursor]:
    server.add_workspace(WS)
    source = make_source()
    cursor = start(source)
    server.add_records(WS, "ACSCallSummary", [call(clock.now + timedelta(seconds=1))])
    clock.advance(timedelta(minutes=3))
    return source, cursor


@pytest.mark.parametrize(
    ("faults", "reason", "retry_after"),
    [
        ([Fault.throttle(retry_after=0.01)] * 4, "throttled", 0.01),
        ([Fault.throttle()], "throttled", None),
        ([Fault.http(500)] * 4, "server_error", None),
        ([Fault.http(502)], "server_error", None),
        ([Fault.http(503)] * 4, "server_error", None),
        ([Fault.http(504)] * 4, "timeout", None),
        ([Fault.partial()], "partial", None),
        ([Fault.reset()] * 4, "connection", None),
        ([Fault.reset_midbody()], "connection", None),
        ([Fault.http(401)], "auth", None),
        ([Fault.http(403)], "auth", None),
        ([Fault.http(400, code="SemanticError")], "bad_query", None),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else None,
)
def test_faults_are_classified_and_nothing_is_counted(
    server: FakeLogAnalytics,
    clock: Clock,
    make_source: Factory,
    faults: list[Fault],
    reason: str,
    retry_after: float | None,
) -> None:
    source, cursor = _one_record(server, clock, make_source)
    server.inject(*faults)
    with pytest.raises(SourceError) as caught:
        source.fetch(cursor)
    error = caught.value
    assert error.reason == reason, str(error)
    if retry_after is not None:
        assert error.retry_after == pytest.approx(retry_after)
    else:
        # Only the server's Retry-After is passed on; without one the daemon's backoff decides.
        assert error.retry_after is None
    if reason == "auth":
        assert "Log Analytics Reader" in str(error)
    # The same cursor still reads the record exactly once afterwards.
    server.faults.clear()
    batch = source.fetch(cursor)
    assert sum(o.n for o in batch.of(CALL_SUMMARY)) == 1


_COLUMNS = [
    {"name": name, "type": "string"} for name in ("Code", "Subcode", "ResultCategory", "n")
] + [{"name": "Ingested", "type": "datetime"}]
_ROW = ["0", "0", "Success", 1, "2026-11-25T12:00:00.0000000Z"]


def _tables(*tables: Any) -> bytes:
    return orjson.dumps({"tables": list(tables)})


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", "response is not JSON"),
        (b"[]", "response is not a JSON object: got list"),
        (b'"tables"', "response is not a JSON object: got str"),
        (b"{}", "response has no tables"),
        (b'{"tables": {"a": 1}}', "tables: expected a non-empty list, got dict"),
        (_tables("PrimaryResult"), "tables[0]: expected an object, got 'PrimaryResult'"),
        (_tables({"rows": []}), "tables[0]: no columns"),
        (_tables({"columns": _COLUMNS}), "tables[0]: no rows"),
        (_tables({"columns": "n", "rows": []}), "tables[0].columns: expected a list, got str"),
        (_tables({"columns": [{"type": "string"}], "rows": []}), "tables[0].columns[0]: no name"),
        (_tables({"columns": _COLUMNS, "rows": {"r": 1}}), "tables[0].rows: expected a list"),
        (
            _tables({"columns": _COLUMNS, "rows": [_ROW] * 12 + [_ROW[:3]]}),
            "tables[0].rows[12]: expected a list of 5 cells, got ['0', '0', 'Success']",
        ),
        (
            _tables({"columns": _COLUMNS, "rows": [_ROW, "row"]}),
            "tables[0].rows[1]: expected a list of 5 cells, got 'row'",
        ),
        (
            _tables({"columns": _COLUMNS, "rows": [_ROW, [*_ROW[:3], "many", _ROW[4]]]}),
            "rows[1]: column n: expected a whole number, got 'many'",
        ),
        # A count is a whole number of records: truncating 2.9 to 2, or reading `true` as 1
        # (a bool is an int in Python), would count what the service never said.
        (
            _tables({"columns": _COLUMNS, "rows": [_ROW, [*_ROW[:3], 2.9, _ROW[4]]]}),
            "rows[1]: column n: expected a whole number, got 2.9",
        ),
        (
            _tables({"columns": _COLUMNS, "rows": [[*_ROW[:3], True, _ROW[4]]]}),
            "rows[0]: column n: expected a whole number, got True",
        ),
        (
            _tables({"columns": _COLUMNS, "rows": [[*_ROW[:3], "7", _ROW[4]]]}),
            "rows[0]: column n: expected a whole number, got '7'",
        ),
        (
            _tables({"columns": _COLUMNS, "rows": [[*_ROW[:3], -3, _ROW[4]]]}),
            "rows[0]: column n: expected a count of at least 1, got -3",
        ),
        (
            _tables({"columns": _COLUMNS, "rows": [[*_ROW[:4], 17]]}),
            "column Ingested: expected a datetime string, got 17",
        ),
        (
            _tables({"columns": _COLUMNS, "rows": [[*_ROW[:4], "yesterday"]]}),
            "column Ingested: invalid Kusto datetime 'yesterday'",
        ),
    ],
    ids=lambda v: None,
)
def test_malformed_response_is_a_server_error_naming_what_and_where(
    server: FakeLogAnalytics,
    clock: Clock,
    make_source: Factory,
    caplog: pytest.LogCaptureFixture,
    payload: bytes,
    message: str,
) -> None:
    source, cursor = _one_record(server, clock, make_source)
    server.inject(Fault.malformed(payload))
    with pytest.raises(SourceError) as caught:
        source.fetch(cursor)
    assert caught.value.reason == "server_error", str(caught.value)
    assert message in str(caught.value)
    assert f"workspace {WS}" in str(caught.value)
    assert not [r for r in caplog.records if r.exc_info]
    # Nothing was counted and the cursor did not move: the same cursor reads the record once.
    batch = source.fetch(cursor)
    assert sum(o.n for o in batch.of(CALL_SUMMARY)) == 1


def _window(cursor: Cursor, clock: Clock, lag: timedelta) -> tuple[int, int]:
    """The ingestion-time window `(start, end]` (ticks) a fetch from `cursor` reads now."""
    start = parse_ticks(load_cursor(cursor)["ACSCallSummary"][f"workspace:{WS}"])
    return start, ticks_from_datetime(clock.now - lag)


@pytest.mark.parametrize("mode", ["aggregated", "raw"])
@pytest.mark.parametrize(
    ("where", "shift"),
    [("at-start", 0), ("before-start", -1), ("past-end", 1)],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_row_outside_the_window_asked_for_is_refused_and_the_window_read_again(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory, mode: str, where: str, shift: int
) -> None:
    # Windows are `(start, end]`: a row ingested at or before the start was counted by the
    # window before (counting it again is twice), one past the end is the next window's (it
    # returns it again). Such an answer is wrong, so it is refused whole, like any malformed
    # one: nothing counted, the cursor stays, and the same window is read again.
    server.add_workspace(WS)
    source = make_source(mode=mode)
    cursor = start(source)
    server.add_records(WS, "ACSCallSummary", [call(clock.now + timedelta(seconds=1))])
    clock.advance(timedelta(minutes=3))
    first, end = _window(cursor, clock, timedelta(minutes=2))
    bad = format_ticks(first + shift if where != "past-end" else end + shift)
    inside = format_ticks(first + 1)
    columns = [c for c in _COLUMNS if mode == "aggregated" or c["name"] != "n"]
    count = [1] if mode == "aggregated" else []
    rows = [["0", "0", "Success", *count, inside], ["487", "0", "Failure", *count, bad]]
    server.inject(Fault.malformed(_tables({"columns": columns, "rows": rows})))
    with pytest.raises(SourceError) as caught:
        source.fetch(cursor)
    assert caught.value.reason == "server_error"
    assert f"rows[1]: column Ingested: {bad} is outside the window" in str(caught.value)
    assert "nothing was counted" in str(caught.value)
    batches = [source.fetch(cursor)]
    for _ in range(3):
        clock.advance(timedelta(seconds=30))
        batches.append(source.fetch(batches[-1].cursor))
    assert totals(batches) == Counter({("0", "0", "Success", ()): 1})


def test_raw_mode_cell_that_is_not_a_value_is_named(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    server.add_workspace(WS)
    source = make_source(mode="raw")
    cursor = start(source)
    clock.advance(timedelta(minutes=3))
    columns = [c for c in _COLUMNS if c["name"] != "n"]
    row = ["0", "0", "Success", "2026-11-25T12:00:00.0000000Z"]
    server.inject(
        Fault.malformed(_tables({"columns": columns, "rows": [row, ["0", {"x": 1}, *row[2:]]]}))
    )
    with pytest.raises(SourceError, match=r"rows\[1\]: column Subcode: expected a value") as caught:
        source.fetch(cursor)
    assert caught.value.reason == "server_error"


def test_transient_errors_are_retried_by_the_pipeline(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    source, cursor = _one_record(server, clock, make_source)
    server.inject(Fault.http(503), Fault.http(500), Fault.throttle(retry_after=0.01))
    batch = source.fetch(cursor)
    assert sum(o.n for o in batch.of(CALL_SUMMARY)) == 1
    # A POST that lost its connection is not retried by azure-core (not idempotent): the
    # fetch fails as `connection` and the next poll re-reads the same window.


def test_throttling_without_retry_after_backs_off_growing_capped_and_jittered(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    """One schedule: the daemon's backoff (equal jitter, doubling to its cap) is the whole
    delay; the source adds none of its own."""
    source, cursor = _one_record(server, clock, make_source)
    exporter = Exporter(catalog=load_catalog(), source_names=[source.name])
    exporter.complete_poll(
        source.name,
        Batch({CALL_SUMMARY: []}, cursor=cursor, watermark=clock.now - timedelta(minutes=3)),
        0.0,
    )
    backoff = Backoff(base=1.0, cap=8.0)
    delays = []
    for _ in range(7):
        server.inject(*[Fault.throttle()] * 4)  # the pipeline's own retries get throttled too
        delay = poll_once(source, exporter, backoff, time.monotonic())
        assert delay is not None
        delays.append(delay)
    ceilings = [1, 2, 4, 8, 8, 8, 8]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling, (delays, ceilings)
    assert len(set(delays[3:])) == 4, "capped delays are jittered, not all equal"
    server.faults.clear()
    assert poll_once(source, exporter, backoff, time.monotonic()) is None
    assert backoff.failures == 0
    assert exporter.state.sources[source.name].records_read == 1


def test_slow_query_beyond_the_server_timeout(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    source, cursor = _one_record(server, clock, make_source)
    source._runner.server_timeout = 1  # the server answers 504 after `Prefer: wait=1`
    server.inject(*[Fault.slow(5)] * 4)
    with pytest.raises(SourceError) as caught:
        source.fetch(cursor)
    assert caught.value.reason == "timeout"


def test_time_passing_during_a_fetch_does_not_make_it_look_behind(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    """A real clock moves between reads. A fetch that has read up to `now - safety_lag` is
    caught up; were it judged against a later `now`, the daemon would poll again at once,
    for ever."""
    server.add_workspace(WS)
    server.add_records(WS, "ACSCallSummary", [call(clock.now - timedelta(minutes=3))])

    def ticking() -> datetime:
        clock.advance(timedelta(milliseconds=1))
        return clock.now

    source = make_source(source_clock=ticking, initial_lookback=timedelta(minutes=10))
    batch = source.fetch(None)
    assert sum(o.n for o in batch.of(CALL_SUMMARY)) == 1
    assert batch.caught_up
    clock.advance(timedelta(minutes=1))
    assert source.fetch(batch.cursor).caught_up


def test_results_arrive_gzip_encoded_and_chunked_as_from_the_service(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    source, cursor = _one_record(server, clock, make_source)
    gzipped = server.stats.gzipped
    batch = source.fetch(cursor)
    assert sum(o.n for o in batch.of(CALL_SUMMARY)) == 1
    assert server.stats.gzipped == gzipped + 1


def test_no_data_204_is_an_empty_success(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    server.add_workspace(WS)  # a workspace without any data answers 204
    source = make_source()
    cursor = start(source)
    clock.advance(timedelta(minutes=1))
    batch = source.fetch(cursor)
    assert batch.of(CALL_SUMMARY) == []
    assert batch.caught_up
    assert batch.cursor != cursor


def test_unknown_workspace_and_missing_token(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    server.add_workspace(WS)
    server.add_records(WS, "ACSCallSummary", [call(clock.now)])
    # Even the first fetch, whose window is empty (initial_lookback 0), asks the service: it
    # fails here rather than report a success the service never gave.
    source = make_source(workspace_ids=["99999999-9999-9999-9999-999999999999"])
    with pytest.raises(SourceError) as caught:
        source.fetch(None)
    assert caught.value.reason == "bad_query"
    assert "workspace_ids" in str(caught.value)
    assert "PathNotFoundError" in str(caught.value)
    bad_token = make_source(credential=FakeCredential("wrong"))
    with pytest.raises(SourceError) as caught:
        bad_token.fetch(None)
    assert caught.value.reason == "auth"
    assert "InvalidAuthenticationToken" in str(caught.value)


def test_credential_failure_is_an_auth_error(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    class NoIdentity(FakeCredential):
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")

    _, cursor = _one_record(server, clock, make_source)
    broken = make_source(credential=NoIdentity())
    with pytest.raises(SourceError) as caught:
        broken.fetch(cursor)
    assert caught.value.reason == "auth"
    assert "workload identity" in str(caught.value)


def test_at_most_five_concurrent_queries_per_identity(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    resources = [f"{RESOURCE}-{i}" for i in range(8)]
    server.add_workspace(WS, resource_ids=resources)
    server.add_records(WS, "ACSCallSummary", [call(clock.now - timedelta(minutes=10))])
    credential = FakeCredential()
    sources = [
        make_source(credential=credential, workspace_ids=[], resource_ids=resources[:4]),
        make_source(credential=credential, workspace_ids=[], resource_ids=resources[4:]),
    ]
    cursors = [start(s) for s in sources]
    clock.advance(timedelta(minutes=1))
    server.inject(*[Fault.slow(0.3)] * 8)
    threads = [
        threading.Thread(target=s.fetch, args=(c,)) for s, c in zip(sources, cursors, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert server.stats.max_in_flight == 5


DAMAGED_CURSORS: list[Cursor] = [
    "x",
    7,
    {"v": 1, "tables": {"ACSCallSummary": {"workspace:x": "yesterday"}}},
    {"v": 2, "tables": {}},
    {"v": 1, "tables": ["ACSCallSummary"]},
    {"v": 1, "tables": {"ACSCallSummary": "2026-01-01T00:00:00Z"}},
    {"kind": "log_analytics", "version": 2, "position": {}},
    {"kind": "simulator", "version": 1, "position": {}},
    {"kind": "log_analytics", "version": 1},
    {"kind": "log_analytics", "version": 1, "position": {"ACSCallSummary": {"workspace:x": 5}}},
]


@pytest.mark.parametrize("bad", DAMAGED_CURSORS)
def test_damaged_cursor_is_bad_cursor_not_a_reset(
    server: FakeLogAnalytics, make_source: Factory, bad: Cursor
) -> None:
    """Not `bad_query` (the query is fine) and never a fresh start (that re-reads
    initial_lookback: counted twice); nothing is asked of the service."""
    server.add_workspace(WS)
    source = make_source()
    asked = len(server.stats.bodies)
    with pytest.raises(SourceError) as caught:
        source.fetch(bad)
    assert caught.value.reason == "bad_cursor"
    assert "log_analytics cursor" in str(caught.value)
    assert caught.value.cursor is None  # nothing planned is kept over a damaged cursor
    assert len(server.stats.bodies) == asked


def test_cursor_of_the_previous_release_continues_exactly(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    """A checkpoint saved before the cursor envelope (`{"v": 1, "tables": ...}`) is read: the
    next poll continues from its watermark, so a record ingested before it is not counted
    again and one after it is counted once."""
    server.add_workspace(WS)
    source = make_source()
    cursor = start(source)
    server.add_records(WS, "ACSCallSummary", [call(clock.now + timedelta(seconds=10))])
    clock.advance(timedelta(minutes=5))
    batch = source.fetch(cursor)
    assert sum(o.n for o in batch.of(CALL_SUMMARY)) == 1
    legacy = {"v": 1, "tables": saved_tables(batch.cursor)}  # as the previous release saved it
    server.add_records(WS, "ACSCallSummary", [call(clock.now + timedelta(seconds=10))])
    clock.advance(timedelta(minutes=5))
    resumed = make_source().fetch(legacy)
    assert sum(o.n for o in resumed.of(CALL_SUMMARY)) == 1
    assert isinstance(resumed.cursor, dict)
    assert resumed.cursor["kind"] == "log_analytics"
    assert load_cursor(resumed.cursor) != load_cursor(legacy)  # moved on, in the new envelope


def test_observation_type_is_the_contract() -> None:
    assert Observation("0", "0").n == 1
    assert datetime.now(UTC).tzinfo is UTC


def test_batches_flow_through_the_pipeline_with_labels_and_operation(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    """Observations as the daemon aggregates them: catalog categories, extra labels, operation."""
    from acs_exporter.catalog import load_catalog
    from acs_exporter.pipeline.aggregate import Resolver, summarise

    server.add_workspace(WS)
    # The plan decides which labels each table's query groups by: a label a table lacks
    # is not asked of it (media summaries have no call_type).
    settings = LogAnalyticsSettings(
        type="log_analytics",
        workspace_ids=[WS],
        tables=["ACSCallSummary", "ACSCallAutomationMediaSummary"],
    )
    plan = LabelPlan(extra_labels=("call_type", "not_a_column"))
    assert [(s.table, s.labels) for s in specs_for(settings, plan)] == [
        (CALL_SUMMARY, ("call_type",)),
        (MEDIA_SUMMARY, ()),
    ]
    source = make_source(
        tables=["ACSCallSummary", "ACSCallAutomationMediaSummary"], plan=LabelPlan(("call_type",))
    )
    cursor = start(source)
    t0 = clock.now
    server.add_records(
        WS,
        "ACSCallSummary",
        [call(t0 + timedelta(seconds=1), code="487", sub="0", cat="", call_type="P2P")] * 3,
    )
    server.add_records(
        WS,
        "ACSCallAutomationMediaSummary",
        [
            {
                "TimeGenerated": t0,
                "OperationName": "Play",
                "ResultCode": 200,
                "ResultSubcode": 0,
                "_IngestedAt": t0 + timedelta(seconds=1),
            }
        ],
    )
    clock.advance(timedelta(minutes=3))
    batch = source.fetch(cursor)
    delta = summarise(batch, Resolver(load_catalog()), LabelPlan(extra_labels=("call_type",)))
    families = {key[0]: (key, n) for key, n in delta.series.items()}
    call_key, calls = families["call_ends"]
    assert calls == 3
    assert call_key[1:3] == ("487", "0")
    assert call_key[4] == ("P2P",)
    media_key, results = families["media_results"]
    assert results == 1
    assert media_key[1:3] == ("200", "0")
    assert media_key[4] == ("Play",)


def test_clock_stepping_back_keeps_the_cursor_and_still_asks_the_service(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    server.add_workspace(WS)
    source = make_source()
    cursor = start(source)
    clock.advance(timedelta(minutes=5))
    cursor = source.fetch(cursor).cursor
    requests = server.stats.requests
    clock.advance(timedelta(minutes=-10))
    batch = source.fetch(cursor)
    assert batch.cursor == cursor
    assert batch.of(CALL_SUMMARY) == []
    # The empty window is still sent: a successful poll means the service answered.
    assert server.stats.requests == requests + 1
    server.deny(WS)
    with pytest.raises(SourceError, match="InsufficientAccessError"):
        source.fetch(cursor)


def test_the_first_fetch_asks_the_service_even_when_its_window_is_empty(
    server: FakeLogAnalytics, make_source: Factory
) -> None:
    """initial_lookback 0 (the default): the first window is empty. Without a query a pod with
    no role would count that as a successful poll and turn ready."""
    server.add_workspace(WS)
    server.deny(WS)
    source = make_source()
    with pytest.raises(SourceError) as caught:
        source.fetch(None)
    assert caught.value.reason == "auth"
    assert server.stats.requests == 1
    server.allow(WS)
    assert source.fetch(None).of(CALL_SUMMARY) == []
    assert server.stats.requests == 2


@pytest.mark.parametrize(
    "changes",
    [
        [[WS2, WS], [WS, WS2]],  # reordered, and back
        [[WS2]],  # the first workspace removed
    ],
    ids=["reordered-and-back", "first-removed"],
)
def test_changing_the_workspace_list_neither_recounts_nor_skips(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory, changes: list[list[str]]
) -> None:
    # All workspace_ids share one query, so they share one position: editing the list (whose
    # first entry names the query) must continue from it, never start over (initial_lookback
    # would re-read what was counted) nor resume a stale position of an earlier list.
    server.add_workspace(WS)
    server.add_workspace(WS2)
    for ws in (WS, WS2):
        server.add_records(ws, "ACSCallSummary", [call(clock.now - timedelta(minutes=30))])
    lookback = timedelta(hours=1)
    batch = make_source(workspace_ids=[WS, WS2], initial_lookback=lookback).fetch(None)
    assert sum(o.n for o in batch.of(CALL_SUMMARY)) == 2
    cursor = batch.cursor
    for step, workspace_ids in enumerate(changes):
        clock.advance(timedelta(minutes=5))
        server.add_records(WS2, "ACSCallSummary", [call(clock.now - timedelta(minutes=4))])
        source = make_source(workspace_ids=workspace_ids, initial_lookback=lookback)
        batch = source.fetch(cursor)
        assert sum(o.n for o in batch.of(CALL_SUMMARY)) == 1, f"step {step}: {workspace_ids}"
        cursor = batch.cursor
        keys = saved_tables(orjson.loads(orjson.dumps(cursor)))["ACSCallSummary"]
        assert list(keys) == [f"workspace:{workspace_ids[0]}"]


@pytest.mark.parametrize(
    "spelling",
    [RESOURCE.lower(), RESOURCE.upper(), RESOURCE + "/"],
    ids=["lower-case", "upper-case", "trailing-slash"],
)
def test_the_same_resource_spelled_otherwise_after_a_restart_continues_from_its_position(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory, spelling: str
) -> None:
    # Azure resource ids are case-insensitive (the portal writes `resourceGroups/...`, `az`
    # often `resourcegroups/...`): a restart with the id spelled otherwise is the same
    # resource, and must continue from its position, not start over (re-reading
    # initial_lookback: counted twice). A cursor saved under the old spelling is read too.
    server.add_workspace(WS, resource_ids=[RESOURCE])
    server.add_records(
        WS, "ACSCallSummary", [call(clock.now - timedelta(minutes=2 * i + 3)) for i in range(30)]
    )
    lookback = timedelta(hours=1)  # one max_window: the first fetch reads all of it
    batch = make_source(workspace_ids=[], resource_ids=[RESOURCE], initial_lookback=lookback).fetch(
        None
    )
    assert sum(o.n for o in batch.of(CALL_SUMMARY)) == 30
    cursor = batch.cursor
    saved = saved_tables(cursor)["ACSCallSummary"]
    saved[f"resource:{RESOURCE}"] = saved.pop(next(iter(saved)))  # as the previous release kept it
    again = make_source(workspace_ids=[], resource_ids=[spelling], initial_lookback=lookback)
    server.add_records(WS, "ACSCallSummary", [call(clock.now + timedelta(seconds=10))])
    clock.advance(timedelta(minutes=3))
    batch = again.fetch(cursor)
    assert sum(o.n for o in batch.of(CALL_SUMMARY)) == 1
    # One position for the resource, under one key whatever the spelling.
    assert list(saved_tables(batch.cursor)["ACSCallSummary"]) == [f"resource:{RESOURCE.lower()}"]


def test_a_record_stamped_more_than_a_day_after_its_ingestion_is_outside_every_query(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    # The documented limit (docs/loganalytics.md): TimeGenerated comes from where the log is
    # written, and the REST timespan each query sends ends a day after the window (kql.py).
    server.add_workspace(WS)
    source = make_source()
    cursor = start(source)
    ingested = clock.now + timedelta(seconds=10)
    server.add_records(
        WS,
        "ACSCallSummary",
        [
            {**call(ingested, code="0"), "TimeGenerated": ingested + timedelta(hours=23)},
            {**call(ingested, code="487"), "TimeGenerated": ingested + timedelta(hours=25)},
        ],
    )
    batches = []
    for _ in range(5):
        clock.advance(timedelta(minutes=1))
        batches.append(source.fetch(cursor))
        cursor = batches[-1].cursor
    assert totals(batches) == Counter({("0", "0", "Success", ()): 1})


def test_one_table_failing_counts_neither_table_and_the_retry_counts_both_once(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    server.add_workspace(WS)
    server.add_workspace("33333333-3333-3333-3333-333333333333", resource_ids=[RESOURCE])
    source = make_source(
        tables=["ACSCallSummary", "ACSCallAutomationMediaSummary"], resource_ids=[RESOURCE]
    )
    cursor = start(source)
    t0 = clock.now
    for ws in (WS, "33333333-3333-3333-3333-333333333333"):
        server.add_records(ws, "ACSCallSummary", [call(t0 + timedelta(seconds=5))])
        server.add_records(
            ws,
            "ACSCallAutomationMediaSummary",
            [
                {
                    "TimeGenerated": t0,
                    "ResultCode": 200,
                    "ResultSubcode": 0,
                    "OperationName": "Play",
                    "_IngestedAt": t0 + timedelta(seconds=5),
                }
            ],
        )
    clock.advance(timedelta(minutes=3))
    for _ in range(3):  # one of the four queries fails, each time a different one
        server.inject(Fault.http(400, code="BadArgumentError"))
        with pytest.raises(SourceError):
            source.fetch(cursor)
    batch = source.fetch(cursor)
    assert sum(o.n for o in batch.of(CALL_SUMMARY)) == 2
    assert sum(o.n for o in batch.of(MEDIA_SUMMARY)) == 2
    assert source.fetch(batch.cursor).of(CALL_SUMMARY) == []


def test_two_sources_one_failing_the_other_is_counted_and_nothing_twice_after_restart(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory, tmp_path: Any
) -> None:
    """A Log Analytics source failing beside a files source, with a checkpoint and a restart:
    the failing one's cursor stays, the other's counts are kept, and the retry counts once."""
    from acs_exporter.definitions.tables import LabelPlan
    from acs_exporter.pipeline.checkpoint import Checkpoint
    from acs_exporter.sources.files.settings import FilesSettings
    from acs_exporter.sources.files.source import FilesSource

    server.add_workspace(WS)
    exported = tmp_path / "calls.csv"
    exported.write_text("ParticipantEndReason,ParticipantEndSubCode\n487,10003\n0,0\n")
    files = FilesSource(FilesSettings(type="files", name="files", paths=[exported]))

    def make_exporter() -> Exporter:
        return Exporter(
            catalog=load_catalog(),
            source_names=("log-analytics", "files"),
            checkpoint=Checkpoint(tmp_path / "state", LabelPlan()),
        )

    def total(exp: Exporter) -> dict[str, float]:
        family = next(f for f in exp.snapshot().families if f.name == "acs_call_ends")
        out: dict[str, float] = {}
        for labels, value in family.samples:
            out[labels[-1]] = out.get(labels[-1], 0.0) + float(value)  # type: ignore[arg-type]
        return out

    la = make_source()
    exp = make_exporter()
    poll_once(la, exp, Backoff(), time.monotonic())  # establishes the starting point
    la_start = exp.cursor("log-analytics")
    server.add_records(WS, "ACSCallSummary", [call(clock.now + timedelta(seconds=1))] * 2)
    clock.advance(timedelta(minutes=3))
    server.inject(Fault.http(400, code="BadArgumentError"))
    assert poll_once(la, exp, Backoff(), time.monotonic()) is not None  # failed: backoff
    assert poll_once(files, exp, Backoff(), time.monotonic()) is None
    assert exp.cursor("log-analytics") == la_start
    assert total(exp) == {"files": 2.0}
    exp.close()

    restarted = make_exporter()
    assert restarted.cursor("log-analytics") == la_start
    assert total(restarted) == {"files": 2.0}
    poll_once(la, restarted, Backoff(), time.monotonic())
    poll_once(files, restarted, Backoff(), time.monotonic())
    poll_once(la, restarted, Backoff(), time.monotonic())
    assert total(restarted) == {"files": 2.0, "log-analytics": 2.0}
    restarted.close()


_HUGE = "9" * 1_000_000


@pytest.mark.parametrize(
    ("row", "named"),
    [
        ([*_ROW[:3], _HUGE + "x", _ROW[4]], "rows[0]: column n: expected a whole number, got '999"),
        ([*_ROW[:4], [_HUGE]], "column Ingested: expected a datetime string, got ['999"),
        ([*_ROW[:4], _HUGE], "column Ingested: invalid Kusto datetime '999"),
    ],
    ids=["count", "ingested-not-a-string", "ingested-not-a-datetime"],
)
def test_a_huge_malformed_cell_is_named_in_one_short_line(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory, row: list[Any], named: str
) -> None:
    """The message quotes the cell cut short (redact.shorten): a megabyte of a broken answer
    must not become a megabyte of log line and /readyz text."""
    source, cursor = _one_record(server, clock, make_source)
    server.inject(Fault.malformed(_tables({"columns": _COLUMNS, "rows": [row]})))
    with pytest.raises(SourceError) as caught:
        source.fetch(cursor)
    assert named in str(caught.value)
    assert len(str(caught.value)) < 1000, len(str(caught.value))
