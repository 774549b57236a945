"""The first start of a table or target: its start is fixed once and kept through failures.

With no saved position a window starts at `now - safety_lag - initial_lookback`. Were that
planned afresh by every poll, each failed poll (no role yet, a table not yet allowed) would
slide the start forward and the oldest records would never be counted. These tests fail every
query for a while, the clock moving on, then let them succeed, and check that every record
ingested after start-up minus `initial_lookback` is counted exactly once.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.pipeline.backoff import Backoff
from acs_exporter.pipeline.checkpoint import Checkpoint
from acs_exporter.pipeline.daemon import Exporter, poll_once
from acs_exporter.sources.base import SourceError
from acs_exporter.sources.loganalytics.cursor import load_cursor
from acs_exporter.sources.loganalytics.source import LogAnalyticsSource

from .conftest import Clock, Factory
from .fake_server import FakeLogAnalytics
from .test_source import RESOURCE, WS, call

WS3 = "33333333-3333-3333-3333-333333333333"
MEDIA = "ACSCallAutomationMediaSummary"


def media(ingested: datetime) -> dict[str, Any]:
    return {
        "TimeGenerated": ingested - timedelta(minutes=5),
        "OperationName": "Play",
        "ResultCode": 200,
        "ResultSubcode": 0,
        "ResultType": "Completed",
        "_IngestedAt": ingested,
    }


def counted(exporter: Exporter, family: str) -> int:
    return sum(n for (_, key), n in exporter.state.series.items() if key[0] == family)


def poll_until_caught_up(source: LogAnalyticsSource, exporter: Exporter) -> None:
    for _ in range(200):
        if poll_once(source, exporter, Backoff(), time.monotonic()) is None:
            return
    raise AssertionError(f"not caught up: {exporter.readiness()}")


def fail_polls(
    source: LogAnalyticsSource, exporter: Exporter, clock: Clock, polls: int, reason: str
) -> None:
    """`polls` failed polls, 20 minutes apart (readiness names the reason until a success)."""
    for _ in range(polls):
        assert poll_once(source, exporter, Backoff(), time.monotonic()) is not None
        problems = exporter.readiness()
        assert not problems or reason in problems[0], problems
        clock.advance(timedelta(minutes=20))


def test_failed_first_polls_keep_the_start_and_everything_since_lookback_counts_once(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory, tmp_path: Path
) -> None:
    """A deployment waiting 80 minutes for its Reader role, restarted meanwhile, with a one-day
    lookback: the oldest hour is counted too, and nothing twice."""
    server.add_workspace(WS)
    lookback = timedelta(days=1)
    started = clock.now
    oldest = started - lookback
    wanted = [call(oldest + timedelta(seconds=1))]
    wanted += [call(oldest + timedelta(minutes=7 * i + 3)) for i in range(40)]  # oldest hours
    wanted += [call(started - timedelta(minutes=i)) for i in range(30)]
    wanted += [call(started + timedelta(minutes=3 * i)) for i in range(40)]  # during the wait
    # Before start-up minus lookback minus safety_lag: outside the promise, never read.
    too_old = [call(oldest - timedelta(minutes=2, seconds=1))]
    server.add_records(WS, "ACSCallSummary", wanted + too_old)

    def exporter() -> Exporter:
        return Exporter(
            catalog=load_catalog(),
            source_names=["log-analytics"],
            checkpoint=Checkpoint(tmp_path / "checkpoint.json", LabelPlan()),
        )

    server.deny(WS)  # no role yet
    first = exporter()
    fail_polls(make_source(initial_lookback=lookback), first, clock, 2, "InsufficientAccessError")
    first.close()
    restarted = exporter()  # the pod restarts while still waiting
    source = make_source(initial_lookback=lookback)
    fail_polls(source, restarted, clock, 2, "InsufficientAccessError")
    server.allow(WS)  # the role assignment has propagated
    clock.advance(timedelta(hours=2))
    poll_until_caught_up(source, restarted)
    assert restarted.readiness() == []
    assert counted(restarted, "call_ends") == len(wanted)
    clock.advance(timedelta(minutes=5))
    poll_until_caught_up(source, restarted)
    assert counted(restarted, "call_ends") == len(wanted)


@pytest.mark.parametrize("added", ["resource", "table", "workspace"])
def test_a_target_or_table_added_later_keeps_its_start_through_failures(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory, added: str
) -> None:
    """A resource, table or workspace added to a running configuration, denied for an hour:
    what was ingested in the `initial_lookback` before it was added is counted, once."""
    server.add_workspace(WS)
    server.add_workspace(WS3, resource_ids=[RESOURCE])
    lookback = timedelta(hours=2)
    before: dict[str, Any] = {}
    if added == "resource":
        after: dict[str, Any] = {"resource_ids": [RESOURCE]}
        denied, workspace, table, family = RESOURCE, WS3, "ACSCallSummary", "call_ends"
    elif added == "table":
        after = {"tables": ["ACSCallSummary", MEDIA]}
        denied, workspace, table, family = MEDIA, WS, MEDIA, "media_results"
    else:  # workspace_ids added to a source that read only a resource
        before = {"workspace_ids": [], "resource_ids": [RESOURCE]}
        after = {"workspace_ids": [WS], "resource_ids": [RESOURCE]}
        denied, workspace, table, family = WS, WS, "ACSCallSummary", "call_ends"
    exporter = Exporter(catalog=load_catalog(), source_names=["log-analytics"])
    poll_until_caught_up(make_source(**before), exporter)  # the original configuration runs
    clock.advance(timedelta(minutes=30))
    poll_until_caught_up(make_source(**before), exporter)
    added_at = clock.now
    ingested = [added_at - lookback + timedelta(minutes=5 * i + 1) for i in range(48)]
    ingested += [added_at + timedelta(minutes=4 * i) for i in range(20)]
    make = media if table == MEDIA else call
    server.add_records(workspace, table, [make(t) for t in ingested])
    # One more record where the original configuration already read.
    server.add_records(WS3 if added == "workspace" else WS, "ACSCallSummary", [call(added_at)])
    server.deny(denied)
    source = make_source(initial_lookback=lookback, **after)
    fail_polls(source, exporter, clock, 3, "InsufficientAccessError")
    server.allow(denied)
    clock.advance(timedelta(hours=1, minutes=30))
    poll_until_caught_up(source, exporter)
    assert counted(exporter, family) == len(ingested) + (family == "call_ends")
    if family != "call_ends":
        assert counted(exporter, "call_ends") == 1


def test_a_failed_first_fetch_carries_the_start_it_planned(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    """The source's side of it: a failed fetch hands back the positions it planned for what
    had none (and only those), so the daemon can keep them."""
    server.add_workspace(WS)
    server.deny(WS)
    source = make_source(initial_lookback=timedelta(hours=1))
    with pytest.raises(SourceError) as first:
        source.fetch(None)
    planned = first.value.cursor
    assert isinstance(planned, dict)
    start = load_cursor(planned)["ACSCallSummary"][f"workspace:{WS}"]
    assert f"ingestion_time() > datetime({start})" in server.stats.bodies[-1]["query"]
    clock.advance(timedelta(minutes=30))
    with pytest.raises(SourceError) as second:
        source.fetch(planned)
    assert second.value.cursor is None  # nothing newly planned: nothing to change
    assert f"ingestion_time() > datetime({start})" in server.stats.bodies[-1]["query"]
