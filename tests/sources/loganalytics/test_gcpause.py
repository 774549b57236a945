"""The garbage collector is paused for a raw-mode parse and count, and always restored.

Behaviour, not timing: the counts are the same, the collector runs (almost) never while a large
response is parsed, and its state after a fetch - a failing one included - is what it was.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import orjson
import pytest

from acs_exporter.definitions.tables import CALL_SUMMARY
from acs_exporter.sources.base import SourceError
from acs_exporter.sources.loganalytics.gcpause import gc_paused
from acs_exporter.sources.loganalytics.timestamps import (
    TICKS_PER_SECOND,
    format_ticks,
    ticks_from_datetime,
)

from .conftest import Clock, Factory
from .fake_server import FakeLogAnalytics, Fault
from .test_source import WS, start

ROWS = 30_000
_COLUMNS = ("Code", "Subcode", "ResultCategory", "CallType", "EndpointType", "ParticipantType")


def _raw_payload(rows: int, after: datetime) -> bytes:
    """A raw-mode response of `rows` rows over three end reasons (what the service sends),
    ingested in the minute after `after` (a window's start: the rows must be in the window)."""
    reasons = [("0", "0", "Success"), ("487", "0", "ExpectedError"), ("500", "1", "")]
    first = ticks_from_datetime(after) + 1
    body = [
        [
            *reasons[i % 3],
            "Group",
            "VoIP",
            "ACS",
            format_ticks(first + i % 60 * TICKS_PER_SECOND + i),
        ]
        for i in range(rows)
    ]
    columns = [{"name": name, "type": "string"} for name in (*_COLUMNS, "Ingested")]
    return orjson.dumps({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": body}]})


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generation of every automatic or explicit collection while the test runs."""
    seen: list[int] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(callback)
    try:
        yield seen
    finally:
        gc.callbacks.remove(callback)


def _collections_during_fetch(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory, rows: int, seen: list[int]
) -> tuple[int, dict[tuple[object, object], int]]:
    source = make_source(mode="raw")
    cursor = start(source)
    window_start = clock.now - timedelta(minutes=2)  # the source's safety_lag
    clock.advance(timedelta(minutes=3))
    server.inject(Fault.malformed(_raw_payload(rows, window_start)))
    seen.clear()
    batch = source.fetch(cursor)
    collected = len(seen)
    return collected, {(o.code, o.subcode): o.n for o in batch.of(CALL_SUMMARY)}


def test_a_large_raw_response_is_counted_whole_with_the_collector_paused(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory, collections: list[int]
) -> None:
    server.add_workspace(WS)
    assert gc.isenabled()
    small, _ = _collections_during_fetch(server, clock, make_source, 3, collections)
    large, counts = _collections_during_fetch(server, clock, make_source, ROWS, collections)
    assert counts == {("0", "0"): 10_000, ("487", "0"): 10_000, ("500", "1"): 10_000}
    # A list per row: unpaused, a young collection every ~700 rows (~40 more than for a
    # 3-row response). Paused, the parse and the count add none.
    assert large - small < 8, (small, large)
    assert gc.isenabled()


@pytest.mark.parametrize("enabled", [True, False])
def test_a_failing_parse_leaves_the_collector_as_it_was(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory, enabled: bool
) -> None:
    server.add_workspace(WS)
    source = make_source(mode="raw")
    cursor = start(source)
    clock.advance(timedelta(minutes=3))
    server.inject(Fault.malformed(_raw_payload(1000, clock.now)[:-40]))  # cut short: not JSON
    if not enabled:
        gc.disable()
    try:
        with pytest.raises(SourceError, match="response is not JSON"):
            source.fetch(cursor)
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def _interrupted_inside_nested_pauses() -> None:
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the inner block must not end the outer one's pause"
        raise KeyboardInterrupt  # what a signal handler raising mid-parse looks like


def test_the_pause_is_restored_after_an_exception_and_when_nested() -> None:
    assert gc.isenabled()
    with pytest.raises(KeyboardInterrupt):
        _interrupted_inside_nested_pauses()
    assert gc.isenabled()


def test_concurrent_pauses_end_when_the_last_one_ends() -> None:
    inside = threading.Barrier(2)
    first_left = threading.Event()
    states: list[bool] = []

    def first() -> None:
        with gc_paused():
            inside.wait(timeout=30)
        first_left.set()

    def second() -> None:
        with gc_paused():
            inside.wait(timeout=30)
            assert first_left.wait(timeout=30)
            states.append(gc.isenabled())  # the first has left: still paused for this one

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert states == [False]
    assert gc.isenabled()
