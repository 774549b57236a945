"""docs/cost.md and docs/operations.md state numbers that follow from the code's defaults and the
shipped thresholds: the test recomputes them, so a changed default makes the docs fail, not lie."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from generators import thresholds

from acs_exporter.sources.loganalytics.client import MAX_CONCURRENT_QUERIES
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings

DOCS = Path(__file__).resolve().parents[2] / "docs"
COST = " ".join((DOCS / "cost.md").read_text().split())
OPERATIONS = " ".join((DOCS / "operations.md").read_text().split())
DEFAULTS = LogAnalyticsSettings(type="log_analytics", workspace_ids=["w"])


def _minutes(value: timedelta) -> float:
    return value.total_seconds() / 60


def test_cost_states_the_default_query_rate_and_scan() -> None:
    per_hour = round(3600 / DEFAULTS.poll_interval.total_seconds())
    assert DEFAULTS.tables == ["ACSCallSummary"]
    assert f"| {per_hour} | {per_hour * 24:,} |" in COST
    lookback_days = DEFAULTS.time_generated_lookback / timedelta(days=1)
    assert f"`time_generated_lookback` (default `{lookback_days:.0f}d`, at least `2d`)" in COST
    # The Basic-plan bill: every poll scans the lookback's days of the table.
    assert f"about **{per_hour * 24 * lookback_days:,.0f} times the table's daily volume" in COST
    assert f"at most {MAX_CONCURRENT_QUERIES} at once per identity" in COST


def test_operations_adds_up_the_spike_alerts_delays() -> None:
    spike = thresholds.load().server_error_spike
    for_minutes = thresholds.seconds(spike.for_) / 60
    lag = _minutes(DEFAULTS.safety_lag)
    poll = _minutes(DEFAULTS.poll_interval)
    scrape, evaluation, crossing, group_wait = 0.5, 1.0, 1.0, 0.5
    low = lag + for_minutes + group_wait
    high = lag + poll + scrape + evaluation + crossing + for_minutes + group_wait
    assert f"`for: {spike.for_}`" in OPERATIONS
    assert f"**{low:g} to {high:g} minutes after ingestion**" in OPERATIONS
    failed = f"**about {low + 3:.0f} to {high + 10:.0f} minutes after the calls failed**"
    assert failed in OPERATIONS
    assert f"is {lag:g} to {lag + poll + scrape:g} minutes of it" in OPERATIONS
