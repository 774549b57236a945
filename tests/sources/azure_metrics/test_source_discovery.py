"""The azure_metrics source with `subscriptions`: ACS resources discovered through the local
ARM (the real azure-mgmt-communication SDK) and read through the local metrics batch API (the
real azure-monitor-querymetrics SDK). Exactly once across a discovered set that changes; a
failed discovery never stops the reading of the last known set, and is counted."""

from __future__ import annotations

import logging
import random
from collections import Counter
from datetime import datetime, timedelta

import orjson
import pytest

from acs_exporter.sources.azure_metrics.source import AzureMetricsSource
from acs_exporter.sources.base import Batch, Cursor, DiscoveryReport, SourceError

from .conftest import ACS1, ACS2, EVENTS, SUB, SUB2, Clock, Factory
from .fake_arm import FakeArm, acs_id
from .fake_server import FakeAzureMetrics, Fault, minute_of

ACS3 = acs_id(SUB, "acs-three")
ACS4 = acs_id(SUB2, "acs-four")
NO_ERRORS = dict.fromkeys(
    ("auth", "throttled", "server_error", "timeout", "connection", "bad_query"), 0
)


def event(subcode: int) -> dict[str, str]:
    return {"EventTypeName": "PlayFailed", "Code": "400", "SubCode": str(subcode)}


def by_resource(batch: Batch) -> Counter[tuple[str, str]]:
    """(resource label, subcode) -> count."""
    out: Counter[tuple[str, str]] = Counter()
    for table_observations in batch.observations.values():
        for obs in table_observations:
            out[(dict(obs.dimensions)["resource"], str(obs.subcode))] += obs.n
    return out


def positions(cursor: Cursor) -> dict[str, str]:
    position: dict[str, str] = orjson.loads(orjson.dumps(cursor))["position"]
    return position


def errors(**counts: int) -> dict[str, int]:
    return NO_ERRORS | counts


def test_discovered_and_listed_resources_are_read_once_each_by_subscription(
    server: FakeAzureMetrics, arm: FakeArm, clock: Clock, make_discovering: Factory
) -> None:
    for resource in (ACS1, ACS2, ACS4):
        arm.add(resource)
    minute = minute_of(clock.now) - timedelta(minutes=5)
    for n, resource in enumerate((ACS1, ACS2, ACS4), start=1):
        server.add(resource, EVENTS, event(8500), minute, n)
    # ACS1 is listed too, in another spelling: read once, as listed.
    source = make_discovering(
        resource_ids=[ACS1.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/")],
        subscriptions=[SUB, SUB2.upper()],
        initial_lookback="10m",
    )
    batch = source.fetch(None)
    assert by_resource(batch) == {
        ("ACS-ONE", "8500"): 1,
        ("acs-two", "8500"): 2,
        ("acs-four", "8500"): 3,
    }
    assert batch.discovery == DiscoveryReport(3, NO_ERRORS)
    calls = [c["resourceids"] for c in server.stats.calls if c["metricnames"] == EVENTS]
    assert sorted(map(len, calls)) == [1, 2]  # one call per subscription
    assert set(positions(batch.cursor)) == {r.lower() for r in (ACS1, ACS2, ACS4)}


def test_a_resource_that_appears_is_counted_from_the_discovery_before_it(
    server: FakeAzureMetrics, arm: FakeArm, clock: Clock, make_discovering: Factory
) -> None:
    arm.add(ACS1)
    source = make_discovering(initial_lookback="1h")  # the first discovery looks back
    start = minute_of(clock.now)
    server.add(ACS1, EVENTS, event(1), start - timedelta(minutes=30), 1)
    cursor = source.fetch(None).cursor
    created = clock.now + timedelta(minutes=2)
    # ACS3 is created two minutes after the first discovery; calls go to it at once; it is
    # listed from the next discovery on (5 minutes after the first). A call an hour before it
    # existed cannot be: initial_lookback must not apply to it (that would be a backfill).
    server.add(ACS3, EVENTS, event(2), minute_of(created), 4)
    server.add(ACS3, EVENTS, event(3), start - timedelta(minutes=30), 100)
    total: Counter[tuple[str, str]] = Counter()
    for _ in range(12):
        clock.advance(timedelta(minutes=1))
        if clock.now >= created and len(arm.resources[SUB]) == 1:
            arm.add(ACS3)
        batch = source.fetch(cursor)
        total.update(by_resource(batch))
        cursor = batch.cursor
    assert total == {("acs-three", "2"): 4}
    assert batch.discovery == DiscoveryReport(2, NO_ERRORS)


def read_two(arm: FakeArm, make_discovering: Factory) -> tuple[AzureMetricsSource, Cursor]:
    """A source that discovered and read ACS1 and ACS2 once, and its cursor."""
    arm.add(ACS1)
    arm.add(ACS2)
    source = make_discovering()
    return source, source.fetch(None).cursor


def test_a_resource_that_disappears_stops_being_read_keeps_its_cursor_and_resumes(
    server: FakeAzureMetrics, arm: FakeArm, clock: Clock, make_discovering: Factory
) -> None:
    source, cursor = read_two(arm, make_discovering)
    left_at = positions(cursor)[ACS2.lower()]
    arm.remove(ACS2)  # moved to a subscription the exporter cannot see, or its role removed
    clock.advance(timedelta(minutes=5))
    before = len(server.stats.calls)
    batch = source.fetch(cursor)
    read = {r for c in server.stats.calls[before:] for r in c["resourceids"]}
    assert read == {ACS1}
    assert positions(batch.cursor)[ACS2.lower()] == left_at  # kept, not read, not lagging
    assert batch.watermark == datetime.fromisoformat(positions(batch.cursor)[ACS1.lower()])
    assert batch.discovery == DiscoveryReport(1, NO_ERRORS)
    # Events of ACS2 while it was not listed are counted once when it comes back.
    gap = minute_of(clock.now) - timedelta(minutes=4)
    server.add(ACS2, EVENTS, event(7), gap, 5)
    arm.add(ACS2)
    clock.advance(timedelta(minutes=5))
    total = by_resource(source.fetch(batch.cursor))
    clock.advance(timedelta(minutes=1))
    assert total == {("acs-two", "7"): 5}


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.http(403), "auth"),
        (Fault.throttle(0.05), "throttled"),
        (Fault.http(500), "server_error"),
        (Fault("body", payload=b'{"value": [{"id": null, "type": "x"}]}'), "server_error"),
    ],
)
def test_a_failed_discovery_keeps_reading_the_last_known_set_and_is_counted(
    server: FakeAzureMetrics,
    arm: FakeArm,
    clock: Clock,
    make_discovering: Factory,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
    reason: str,
) -> None:
    arm.add(ACS1)
    source = make_discovering()
    cursor = source.fetch(None).cursor
    arm.add(ACS2)  # not seen while the discovery fails
    server.add(ACS1, EVENTS, event(1), minute_of(clock.now), 2)
    arm.faults.extend([fault] * 3)
    clock.advance(timedelta(minutes=5))
    with caplog.at_level(logging.WARNING):
        batch = source.fetch(cursor)
    assert batch.discovery == DiscoveryReport(1, errors(**{reason: 1}))
    assert by_resource(batch) == {("acs-one", "1"): 2}  # read as before
    warnings = [r for r in caplog.records if "discovery failed" in r.getMessage()]
    assert len(warnings) == 1  # logged once per failure
    assert getattr(warnings[0], "reason", None) == reason
    assert "fake-token" not in str(getattr(warnings[0], "error", ""))
    arm.faults.clear()  # (a 403 is not retried by the SDK, a 429 or 500 is)
    # Retried a minute later (not at every poll), then found ACS2.
    clock.advance(timedelta(seconds=30))
    assert source.fetch(batch.cursor).discovery == DiscoveryReport(1, NO_ERRORS)
    clock.advance(timedelta(seconds=31))
    assert source.fetch(batch.cursor).discovery == DiscoveryReport(2, NO_ERRORS)


def test_failed_retries_back_off_up_to_the_discovery_interval(
    arm: FakeArm, clock: Clock, make_discovering: Factory
) -> None:
    arm.add(ACS1)
    source = make_discovering(discovery_interval="3m")
    cursor = source.fetch(None).cursor
    clock.advance(timedelta(minutes=3))
    attempts = []
    for _ in range(12):  # one poll a minute, every discovery refused
        arm.faults.append(Fault.http(403))
        batch = source.fetch(cursor)
        assert batch.discovery is not None
        attempts.append(batch.discovery.errors["auth"])
        arm.faults.clear()
        clock.advance(timedelta(minutes=1))
    # Failed at 0, retried after 1m, then 2m, then every 3m (the interval).
    assert attempts == [1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0]


def test_a_retry_after_delays_the_next_discovery_not_the_reading(
    server: FakeAzureMetrics, arm: FakeArm, clock: Clock, make_discovering: Factory
) -> None:
    arm.add(ACS1)
    source = make_discovering()
    cursor = source.fetch(None).cursor
    clock.advance(timedelta(minutes=5))
    arm.faults.append(Fault.throttle(600))
    batch = source.fetch(cursor)
    assert batch.discovery == DiscoveryReport(1, errors(throttled=1))
    calls = len(arm.list_calls())
    for _ in range(9):  # reading goes on every minute; ARM is not asked before 10 minutes
        clock.advance(timedelta(minutes=1))
        batch = source.fetch(batch.cursor)
    assert len(arm.list_calls()) == calls
    clock.advance(timedelta(minutes=1))
    source.fetch(batch.cursor)
    assert len(arm.list_calls()) == calls + 1


def test_the_first_discovery_must_succeed_before_anything_is_read(
    server: FakeAzureMetrics, arm: FakeArm, clock: Clock, make_discovering: Factory
) -> None:
    arm.add(ACS1)
    server.add(ACS1, EVENTS, event(1), minute_of(clock.now) - timedelta(minutes=5), 3)
    source = make_discovering(initial_lookback="10m")
    arm.faults.append(Fault.http(403))
    with pytest.raises(SourceError) as failed:
        source.fetch(None)
    assert failed.value.reason == "auth"
    assert "nothing is read until every subscription has been discovered once" in str(failed.value)
    assert failed.value.discovery == DiscoveryReport(0, errors(auth=1))
    assert server.stats.calls == []
    # The next poll (the poll backoff paces it) tries again at once, and reads.
    batch = source.fetch(None)
    assert by_resource(batch) == {("acs-one", "1"): 3}


def test_with_listed_resources_a_failed_first_discovery_does_not_stop_them(
    server: FakeAzureMetrics, arm: FakeArm, clock: Clock, make_discovering: Factory
) -> None:
    arm.add(ACS2)
    server.add(ACS1, EVENTS, event(1), minute_of(clock.now) - timedelta(minutes=5), 3)
    source = make_discovering(resource_ids=[ACS1], initial_lookback="10m")
    arm.faults.extend([Fault.http(500)] * 3)
    batch = source.fetch(None)
    assert by_resource(batch) == {("acs-one", "1"): 3}
    assert batch.discovery == DiscoveryReport(0, errors(server_error=1))


def test_a_discovered_resource_the_metrics_api_no_longer_knows_is_rediscovered_at_once(
    server: FakeAzureMetrics, arm: FakeArm, clock: Clock, make_discovering: Factory
) -> None:
    source, cursor = read_two(arm, make_discovering)
    arm.remove(ACS2)  # deleted between two discoveries
    server.gone.add(ACS2.lower())
    clock.advance(timedelta(minutes=1))
    with pytest.raises(SourceError) as failed:
        source.fetch(cursor)
    assert failed.value.reason == "resource_error"
    calls = len(arm.list_calls())
    clock.advance(timedelta(seconds=5))  # the poll backoff, far less than discovery_interval
    assert source.fetch(failed.value.cursor).discovery == DiscoveryReport(1, NO_ERRORS)
    assert len(arm.list_calls()) == calls + 1


def test_no_acs_resource_at_all_is_a_successful_empty_poll(
    server: FakeAzureMetrics, make_discovering: Factory
) -> None:
    batch = make_discovering().fetch(None)
    assert batch.is_empty()
    assert batch.caught_up
    assert batch.discovery == DiscoveryReport(0, NO_ERRORS)
    assert server.stats.calls == []


def test_exact_counts_per_bucket_across_a_changing_discovered_set_with_faults_and_a_restart(
    server: FakeAzureMetrics, arm: FakeArm, clock: Clock, make_discovering: Factory
) -> None:
    """45 minutes, one poll a minute, every minute of every resource its own bucket (subcode
    = minute): ACS3 is created at minute 6 and listed from the discovery at 10 on, ACS2 is not
    listed from minute 12 to 25 (its calls go on), discoveries and metric calls fail now and
    then, and the source is replaced by a new one (a restart: nothing in memory) at minute 18.
    Every bucket is counted once."""
    rng = random.Random(15)
    t0 = minute_of(clock.now)
    arm.add(ACS1)
    arm.add(ACS2)
    expected: Counter[tuple[str, str]] = Counter()
    for minute in range(45):
        for resource, name in ((ACS1, "acs-one"), (ACS2, "acs-two"), (ACS3, "acs-three")):
            if resource == ACS3 and minute < 6:
                continue  # it does not exist yet
            n = rng.randint(1, 5)
            server.add(resource, EVENTS, event(minute), t0 + timedelta(minutes=minute), n)
            expected[(name, str(minute))] += n
    source = make_discovering()
    cursor: Cursor = None
    total: Counter[tuple[str, str]] = Counter()
    for step in range(60):
        minute = (clock.now - t0) // timedelta(minutes=1)
        if minute == 6:
            arm.add(ACS3)
        elif minute == 12:
            arm.remove(ACS2)
        elif minute == 25:
            arm.add(ACS2)
        elif minute == 18:
            source = make_discovering()  # a restart: the cursor is all that is kept
        if step % 7 == 3:
            arm.faults.append(Fault.http(403))
        if step % 11 == 5:
            server.faults.extend([Fault.throttle()] * 4)
        try:
            batch = source.fetch(cursor)
        except SourceError as error:
            cursor = error.cursor if error.cursor is not None else cursor
        else:
            total.update(by_resource(batch))
            cursor = batch.cursor
        arm.faults.clear()
        server.faults.clear()
        clock.advance(timedelta(minutes=1))
    # Polling went on 15 minutes past the last event: every bucket has settled and been read.
    assert total == expected
