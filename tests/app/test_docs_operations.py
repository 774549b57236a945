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


def test_operations_states_the_defaults_its_time_to_page_was_measured_with() -> None:
    severe = thresholds.load().server_error_severe_spike
    lag = DEFAULTS.safety_lag.total_seconds()
    poll = DEFAULTS.poll_interval.total_seconds()
    assert f"**`poll_interval: {poll:g}s`**" in OPERATIONS
    assert f"**`safety_lag: {lag / 60:g}m`**" in OPERATIONS
    assert f"| `poll_interval` ({poll:g} s) |" in OPERATIONS
    # the measured worst case of the exporter is at these defaults
    assert f"= lag {lag:g} s + poll {poll:g} s +" in OPERATIONS
    evaluation = thresholds.seconds(severe.evaluation_interval)
    assert f"`for: {severe.for_}`, its group evaluated every {evaluation} s" in OPERATIONS
    assert f"share over {severe.window[:-1]} minutes above {severe.share * 100:g}%" in OPERATIONS
    assert f"at least {severe.min_calls} call ends" in OPERATIONS
