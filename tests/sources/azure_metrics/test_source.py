"""The azure_metrics source against the local metrics batch API, through the real SDK."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import orjson
import pytest

from acs_exporter.definitions import tables
from acs_exporter.sources.base import Batch, SourceError

from .conftest import ACS1, ACS2, EVENTS, REQUESTS, SUB, Clock, Factory
from .fake_server import FakeAzureMetrics, Fault, minute_of

PLAY_FAILED = {"EventTypeName": "PlayFailed", "Code": "400", "SubCode": "8535"}
RECOGNIZE_FAILED = {"EventTypeName": "RecognizeFailed", "Code": "400", "SubCode": "8510"}


def counts(
    batch: Batch, table: tables.LogTable = tables.CALL_AUTOMATION_EVENTS
) -> Counter[tuple[object, ...]]:
    out: Counter[tuple[object, ...]] = Counter()
    for obs in batch.of(table):
        out[(obs.code, obs.subcode, obs.dimensions)] += obs.n
    return out


def dims(event: str, resource: str = "acs-one") -> tuple[tuple[str, str], ...]:
    return (("event_type", event), ("resource", resource))


def test_a_minute_is_counted_once_after_it_settled(
    server: FakeAzureMetrics, clock: Clock, make_source: Factory
) -> None:
    source = make_source(initial_lookback="10m")
    t0 = minute_of(clock.now)
    server.add(ACS1, EVENTS, PLAY_FAILED, t0 - timedelta(minutes=5), 4)
    # The current minute: its value still grows; it must not be counted before it settled.
    server.add(ACS1, EVENTS, PLAY_FAILED, t0, 2)
    first = source.fetch(None)
    assert counts(first) == {("400", "8535", dims("PlayFailed")): 4}
    position = orjson.loads(orjson.dumps(first.cursor))["position"]
    assert position == {ACS1.lower(): (t0 - timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    # Later events of the same (unsettled) minute arrive; re-reading counts each minute once.
    server.add(ACS1, EVENTS, PLAY_FAILED, t0, 3, visible_at=clock.now + timedelta(minutes=1))
    cursor = first.cursor
    total = Counter(counts(first))
    for _ in range(6):
        clock.advance(timedelta(minutes=1))
        batch = source.fetch(cursor)
        total.update(counts(batch))
        cursor = batch.cursor
    assert total == {("400", "8535", dims("PlayFailed")): 9}


def test_request_shape_is_the_batch_api(server: FakeAzureMetrics, make_source: Factory) -> None:
    make_source(resource_ids=[ACS1, ACS2]).fetch(None)
    calls = server.stats.calls
    assert {c["metricnames"] for c in calls} == {EVENTS, REQUESTS}
    for call in calls:
        assert call["resourceids"] == [ACS1, ACS2]
        assert call["interval"] == "PT1M"
        assert call["aggregation"] == "count"
        assert int(call["top"]) == 1000
    events = next(c for c in calls if c["metricnames"] == EVENTS)
    assert events["filter"] == "EventTypeName eq '*' and Code eq '*' and SubCode eq '*'"


def test_fifty_resources_a_call_one_subscription_each(
    server: FakeAzureMetrics, make_source: Factory
) -> None:
    other = SUB.replace("a", "b")
    ids = [ACS1.replace("acs-one", f"acs-{i}") for i in range(60)]
    ids.append(ACS1.replace(SUB, other))
    make_source(resource_ids=ids).fetch(None)
    sizes = sorted(len(c["resourceids"]) for c in server.stats.calls if c["metricnames"] == EVENTS)
    assert sizes == [1, 10, 50]


def test_api_requests_by_operation_and_status_class(
    server: FakeAzureMetrics, clock: Clock, make_source: Factory
) -> None:
    minute = minute_of(clock.now) - timedelta(minutes=4)
    request = {"Operation": "Play", "StatusCode": "202", "StatusCodeClass": "2xx"}
    server.add(ACS1, REQUESTS, request, minute, 7)
    batch = make_source(initial_lookback="5m").fetch(None)
    expected = (("operation", "Play"), ("resource", "acs-one"), ("status_class", "2xx"))
    assert counts(batch, tables.CALL_AUTOMATION_API_REQUESTS) == {("202", None, expected): 7}


@pytest.mark.parametrize("retry_after", [0.05, None])
def test_throttling_is_retried_and_reported(
    server: FakeAzureMetrics, clock: Clock, make_source: Factory, retry_after: float | None
) -> None:
    server.add(ACS1, EVENTS, PLAY_FAILED, minute_of(clock.now) - timedelta(minutes=5), 1)
    source = make_source(initial_lookback="10m")
    server.faults.extend([Fault.throttle(retry_after)] * 4)  # more than the pipeline retries
    with pytest.raises(SourceError) as failed:
        source.fetch(None)
    assert failed.value.reason == "throttled"
    if retry_after is not None:
        assert failed.value.retry_after == pytest.approx(retry_after)
    planned = failed.value.cursor  # the planned start is kept, so a retry counts the minute
    server.faults.clear()  # (the pipeline retries a 429 only when it says Retry-After)
    clock.advance(timedelta(minutes=30))
    batch = source.fetch(planned)
    assert sum(counts(batch).values()) == 1


def test_one_failing_resource_fails_the_poll_and_counts_nothing(
    server: FakeAzureMetrics, clock: Clock, make_source: Factory
) -> None:
    minute = minute_of(clock.now) - timedelta(minutes=5)
    server.add(ACS1, EVENTS, PLAY_FAILED, minute, 2)
    server.add(ACS2, EVENTS, RECOGNIZE_FAILED, minute, 3)
    source = make_source(resource_ids=[ACS1, ACS2], initial_lookback="10m")
    server.faults.append(Fault("resource_error", resource=ACS2.lower()))
    with pytest.raises(SourceError) as failed:
        source.fetch(None)
    assert failed.value.reason == "resource_error"
    assert "acs-two" in str(failed.value)
    assert "ResourceNotFound" in str(failed.value)
    batch = source.fetch(failed.value.cursor)
    assert sum(counts(batch).values()) == 5


def test_a_resource_that_no_longer_exists_is_a_clear_error(
    server: FakeAzureMetrics, make_source: Factory
) -> None:
    server.gone.add(ACS2.lower())
    with pytest.raises(SourceError) as failed:
        make_source(resource_ids=[ACS1, ACS2]).fetch(None)
    assert failed.value.reason == "resource_error"
    assert ACS2.lower() in str(failed.value)
    assert "missing" in str(failed.value)


@pytest.mark.parametrize(
    "payload",
    [
        b"<html>proxy</html>",
        b'{"values": null}',
        b'{"values": [{"value": null}]}',
        b'{"values": [{"resourceid": "x", "value": [{"name": {"value": '
        b'"AcsCallAutomationCallbackEvent"}, "timeseries": [{"data": [{"timeStamp": null, '
        b'"count": 1}]}]}]}]}',
        # A coarser grain than asked: its points would cover minutes counted before.
        b'{"values": [{"resourceid": "x", "interval": "PT5M", "value": []}]}',
        b'{"values": [{"resourceid": "x", "value": [{"name": {"value": '
        b'"AcsCallAutomationCallbackEvent"}, "timeseries": [{"data": [{"timeStamp": '
        b'"2026-11-25T12:00:30Z", "count": 1}]}]}]}]}',
    ],
)
def test_malformed_bodies_are_server_errors_not_crashes(
    server: FakeAzureMetrics, make_source: Factory, payload: bytes
) -> None:
    server.faults.append(Fault("body", payload=payload))
    with pytest.raises(SourceError) as failed:
        make_source().fetch(None)
    assert failed.value.reason in ("server_error", "resource_error")
    assert "nothing" in str(failed.value)


def test_missing_dimensions_and_bad_values_are_rejected_and_counted(
    server: FakeAzureMetrics, clock: Clock, make_source: Factory
) -> None:
    minute = minute_of(clock.now) - timedelta(minutes=5)
    stamp = minute.strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = [
        {"name": {"value": "eventtypename"}, "value": "PlayFailed"},
        {"name": {"value": "code"}, "value": None},
    ]
    server.raw_series[(ACS1.lower(), EVENTS.lower())] = [
        {"metadatavalues": meta, "data": [{"timeStamp": stamp, "count": 5.0}]},
        {
            "metadatavalues": [
                {"name": {"value": "eventtypename"}, "value": "PlayFailed"},
                {"name": {"value": "code"}, "value": "400"},
                {"name": {"value": "subcode"}, "value": "8535"},
            ],
            "data": [
                {"timeStamp": stamp, "count": -1},
                {"timeStamp": stamp, "count": 2.5},
                {"timeStamp": stamp, "count": None},
                {"timeStamp": stamp, "count": 3.0},
            ],
        },
    ]
    batch = make_source(initial_lookback="10m").fetch(None)
    assert batch.rejected == {"missing_dimension": 5, "invalid_value": 2}
    assert counts(batch) == {("400", "8535", dims("PlayFailed")): 3}


def test_as_many_series_as_top_is_truncation(
    server: FakeAzureMetrics, clock: Clock, make_source: Factory
) -> None:
    minute = minute_of(clock.now) - timedelta(minutes=5)
    for i in range(10):
        server.add(ACS1, EVENTS, {**PLAY_FAILED, "SubCode": str(8500 + i)}, minute, 1)
    with pytest.raises(SourceError) as failed:
        make_source(initial_lookback="10m", max_series=10).fetch(None)
    assert failed.value.reason == "truncated"


def test_catching_up_is_bounded_and_exact(
    server: FakeAzureMetrics, clock: Clock, make_source: Factory
) -> None:
    start = minute_of(clock.now) - timedelta(hours=3)
    for i in range(180):
        server.add(ACS1, EVENTS, PLAY_FAILED, start + timedelta(minutes=i), 1)
    source = make_source(initial_lookback="3h", max_window="1h")
    cursor, total, polls = None, 0, 0
    while True:
        batch = source.fetch(cursor)
        total += sum(counts(batch).values())
        cursor, polls = batch.cursor, polls + 1
        if batch.caught_up:
            break
    # Minutes up to `now - settle`: the three settling minutes are still to come.
    assert (polls, total) == (3, 177)


def test_a_damaged_cursor_is_bad_cursor(make_source: Factory) -> None:
    with pytest.raises(SourceError) as failed:
        make_source().fetch({"kind": "azure_metrics", "version": 1, "position": {"x": "noon"}})
    assert failed.value.reason == "bad_cursor"


def test_wrong_token_is_auth(make_source: Factory) -> None:
    from .fake_server import FakeCredential

    with pytest.raises(SourceError) as failed:
        make_source(credential=FakeCredential("wrong")).fetch(None)
    assert failed.value.reason == "auth"
    assert "Monitoring Reader" in str(failed.value)


def test_gaps_without_data_are_passed_and_nothing_around_them_is_lost(
    server: FakeAzureMetrics, clock: Clock, make_source: Factory
) -> None:
    now = minute_of(clock.now)
    for minutes_ago, n in ((115, 2), (61, 3), (60, 4), (4, 5)):  # long stretches with no data
        server.add(ACS1, EVENTS, PLAY_FAILED, now - timedelta(minutes=minutes_ago), n)
    # A series with no data points at all, and one whose data is null, count nothing.
    server.raw_series[(ACS1.lower(), EVENTS.lower())] = [
        {"metadatavalues": [], "data": []},
        {"metadatavalues": [], "data": None},
    ]
    source = make_source(initial_lookback="2h", max_window="30m")
    cursor, total = None, 0
    for _ in range(10):
        batch = source.fetch(cursor)
        total += sum(counts(batch).values())
        assert batch.rejected == {}
        cursor = batch.cursor
        if batch.caught_up:
            break
    assert total == 14
    assert batch.caught_up
