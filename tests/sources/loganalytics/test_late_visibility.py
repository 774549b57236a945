"""What safety_lag is for: records that become queryable after their ingestion time.

`ingestion_time()` is stamped when an ingestion completes, and ingestions run concurrently, so
a record may become queryable a little after a window covering its ingestion time was read. The
local server holds such records back (`visible_after`). At the default safety_lag, polled at
the default poll_interval, a record late by up to the lag is counted once; one late by more
is missed for good: the lag, not the exporter, bounds it (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from acs_exporter.definitions.tables import CALL_SUMMARY
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from acs_exporter.sources.loganalytics.source import LogAnalyticsSource

from .conftest import Clock
from .fake_server import FakeCredential, FakeLogAnalytics
from .kusto import KustoChecker
from .test_source import WS, call

DEFAULTS = LogAnalyticsSettings(type="log_analytics", workspace_ids=[WS])


@pytest.fixture
def late_server(
    kusto: KustoChecker, clock: Clock, request: pytest.FixtureRequest
) -> Iterator[FakeLogAnalytics]:
    with FakeLogAnalytics(kusto, clock=clock, visible_after=request.param) as fake:
        yield fake


def _counted_over_polls(server: FakeLogAnalytics, clock: Clock, polls: int) -> int:
    """Call ends counted by a source at the default cadence, one record ingested after start."""
    server.add_workspace(WS)
    settings = LogAnalyticsSettings(
        type="log_analytics", workspace_ids=[WS], endpoint=server.url, tls_ca_file=server.ca_file
    )
    source = LogAnalyticsSource(settings, credential=FakeCredential(), clock=clock)
    try:
        cursor = source.fetch(None).cursor
        # Ingested exactly at the end of the third poll's window, the worst place: that poll
        # (safety_lag after it) is the only one to cover it. The window of an empty answer
        # ends at the service's clock (its Date header, whole seconds) minus safety_lag.
        whole_second = clock.now.replace(microsecond=0)
        ingested = whole_second + 3 * settings.poll_interval - settings.safety_lag
        assert ingested > clock.now
        server.add_records(WS, "ACSCallSummary", [call(ingested)])
        counted = 0
        for _ in range(polls):
            clock.advance(settings.poll_interval)
            batch = source.fetch(cursor)
            counted += sum(o.n for o in batch.of(CALL_SUMMARY))
            cursor = batch.cursor
        return counted
    finally:
        source.close()


POLLS = 12  # well past safety_lag + the lateness


@pytest.mark.parametrize(
    "late_server",
    [DEFAULTS.safety_lag - timedelta(seconds=1), DEFAULTS.safety_lag],
    indirect=True,
    ids=["lag-1s", "lag"],
)
def test_a_record_queryable_late_by_up_to_the_safety_lag_is_counted_once(
    late_server: FakeLogAnalytics, clock: Clock
) -> None:
    assert _counted_over_polls(late_server, clock, POLLS) == 1


@pytest.mark.parametrize(
    "late_server", [DEFAULTS.safety_lag + timedelta(seconds=1)], indirect=True, ids=["lag+1s"]
)
def test_a_record_queryable_later_than_the_safety_lag_is_missed(
    late_server: FakeLogAnalytics, clock: Clock
) -> None:
    """The limit the safety lag sets: the window that covered the record was read before the
    record could be seen, and the cursor moved past it."""
    assert _counted_over_polls(late_server, clock, POLLS) == 0
