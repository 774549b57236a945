"""Exactly once when the exporter's clock and the service's disagree (skew, an NTP step).

The local server runs on its own clock: a record is visible once the *service's* clock passes
its ingestion time, and its responses carry that clock in the `Date` header, as Log Analytics'
do. Each source here gets a clock of its own, as a pod on a node whose clock is off would.
A window that comes back empty moves the cursor to its end, but never past the service's clock
minus safety_lag: otherwise a pod clock running ahead moves the cursor into the service's
future, past records not even ingested yet, and they are never read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from acs_exporter.definitions.tables import CALL_SUMMARY, MEDIA_SUMMARY, LogTable
from acs_exporter.sources.base import Batch, Cursor
from acs_exporter.sources.loganalytics.cursor import load_cursor
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from acs_exporter.sources.loganalytics.source import LogAnalyticsSource
from acs_exporter.sources.loganalytics.timestamps import parse_ticks, ticks_from_datetime

from .conftest import Clock, Factory
from .fake_server import FakeCredential, FakeLogAnalytics, Fault
from .kusto import KustoChecker
from .test_source import WS, call

LAG = timedelta(minutes=1)
STEP = timedelta(seconds=30)


def media(ingested: datetime) -> dict[str, object]:
    return {
        "TimeGenerated": ingested - timedelta(minutes=2),
        "ResultCode": "200",
        "ResultSubcode": "0",
        "OperationName": "Play",
        "_IngestedAt": ingested,
    }


def poll(
    source: LogAnalyticsSource, cursor: Cursor, clock: Clock, polls: int
) -> tuple[list[Batch], Cursor]:
    batches = []
    for _ in range(polls):
        clock.advance(STEP)
        batch = source.fetch(cursor)
        batches.append(batch)
        cursor = batch.cursor
    return batches, cursor


def counted(batches: list[Batch], table: LogTable = CALL_SUMMARY) -> int:
    return sum(obs.n for batch in batches for obs in batch.of(table))


def skewed(clock: Clock, offset: list[timedelta]) -> Callable[[], datetime]:
    """The source's clock: the service's plus `offset[0]` (changeable as the test runs)."""
    return lambda: clock.now + offset[0]


@pytest.mark.parametrize("initial_lookback", [timedelta(0), timedelta(minutes=2)])
def test_a_pod_clock_ahead_of_the_service_loses_nothing_of_a_quiet_table(
    server: FakeLogAnalytics,
    clock: Clock,
    make_source: Factory,
    caplog: pytest.LogCaptureFixture,
    initial_lookback: timedelta,
) -> None:
    # Three minutes ahead, past safety_lag: the first (empty) window ends in the service's
    # future. The call is ingested after that poll, and visible at once: nothing is late.
    server.add_workspace(WS)
    source = make_source(
        source_clock=skewed(clock, [timedelta(minutes=3)]),
        safety_lag=LAG,
        initial_lookback=initial_lookback,
    )
    cursor = source.fetch(None).cursor
    watermark = parse_ticks(load_cursor(cursor)["ACSCallSummary"][f"workspace:{WS}"])
    assert watermark <= ticks_from_datetime(clock.now - LAG)
    server.add_records(WS, "ACSCallSummary", [call(clock.now + timedelta(seconds=20))])
    batches, cursor = poll(source, cursor, clock, polls=20)
    assert counted(batches) == 1
    # Said once, not at every poll: what is wrong and what to do.
    warned = [r.getMessage() for r in caplog.records if "ahead of the service" in r.getMessage()]
    assert len(warned) == 1, warned
    assert "180s ahead" in warned[0]
    assert "NTP" in warned[0]


def test_a_clock_stepped_forward_for_one_poll_loses_nothing_of_a_quiet_table(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    # A node clock that steps an hour ahead for one poll (a VM resumed with a stale RTC that
    # NTP then corrects). ACSCallSummary is busy, ACSCallAutomationMediaSummary quiet: its
    # empty window must not take its cursor an hour ahead of what the service has ingested.
    server.add_workspace(WS)
    offset = [timedelta(0)]
    source = make_source(
        source_clock=skewed(clock, offset),
        safety_lag=LAG,
        tables=["ACSCallSummary", "ACSCallAutomationMediaSummary"],
    )
    cursor = source.fetch(None).cursor
    server.add_records(
        WS, "ACSCallSummary", [call(clock.now + timedelta(seconds=s)) for s in range(1, 1200, 20)]
    )
    batches, cursor = poll(source, cursor, clock, polls=4)
    offset[0] = timedelta(hours=1)
    more, cursor = poll(source, cursor, clock, polls=1)
    batches += more
    offset[0] = timedelta(0)
    server.add_records(
        WS,
        "ACSCallAutomationMediaSummary",
        [media(clock.now + timedelta(minutes=m)) for m in range(1, 20)],
    )
    more, cursor = poll(source, cursor, clock, polls=60)
    batches += more
    assert counted(batches, MEDIA_SUMMARY) == 19
    assert counted(batches) == 60  # the busy table: each once, the step notwithstanding


def test_a_pod_clock_behind_the_service_counts_once(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    # Behind, the windows end further in the service's past than safety_lag: later, not lost.
    server.add_workspace(WS)
    source = make_source(source_clock=skewed(clock, [-timedelta(minutes=3)]), safety_lag=LAG)
    cursor = source.fetch(None).cursor
    server.add_records(WS, "ACSCallSummary", [call(clock.now + timedelta(seconds=20))])
    batches, cursor = poll(source, cursor, clock, polls=20)
    assert counted(batches) == 1


@pytest.mark.parametrize(
    "date",
    [None, "yesterday", "Thu, 01 Jan 1970 00:00:00 GMT"],
    ids=["no-date", "unreadable", "absurd"],
)
def test_without_a_usable_date_header_an_empty_window_reads_to_its_end(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory, date: str | None
) -> None:
    # No service clock to go by (a proxy that drops the header, or one that is garbage or far
    # beyond any skew): the exporter's own clock, as before.
    server.add_workspace(WS)
    source = make_source(safety_lag=LAG)
    cursor = source.fetch(None).cursor
    clock.advance(STEP)
    server.inject(Fault.date(date))
    cursor = source.fetch(cursor).cursor
    watermark = load_cursor(cursor)["ACSCallSummary"][f"workspace:{WS}"]
    assert parse_ticks(watermark) == ticks_from_datetime(clock.now - LAG)


def test_a_pod_clock_ahead_keeps_the_whole_safety_lag_for_a_busy_table(
    kusto: KustoChecker, clock: Clock
) -> None:
    # A busy table, records committed late by up to 50 s each (less than the 60 s lag), in
    # no particular order: what safety_lag is for. Three minutes ahead, the windows ended in
    # the service's future, the cursor followed the newest record read, and a record stamped
    # just before it but visible later was lost: the skew ate the lag. The answers' Date
    # header says how far ahead the pod is, and the next windows end by the service's clock.
    with FakeLogAnalytics(
        kusto, clock=clock, visible_after=timedelta(seconds=50), spread_visibility=True
    ) as server:
        server.add_workspace(WS)
        settings = LogAnalyticsSettings(
            type="log_analytics",
            workspace_ids=[WS],
            endpoint=server.url,
            tls_ca_file=server.ca_file,
            safety_lag=LAG,
        )
        source = LogAnalyticsSource(
            settings,
            credential=FakeCredential(),
            clock=skewed(clock, [timedelta(minutes=3)]),
        )
        try:
            cursor = source.fetch(None).cursor
            start = clock.now
            server.add_records(
                WS, "ACSCallSummary", [call(start + timedelta(seconds=s)) for s in range(1, 600, 3)]
            )
            batches, cursor = poll(source, cursor, clock, polls=30)
        finally:
            source.close()
    assert counted(batches) == 200
