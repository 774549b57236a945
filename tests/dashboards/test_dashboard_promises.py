"""What the dashboards promise a user of today's Grafana (issue #14): a `cluster` variable every
query filters on, how late the counts are, firing alerts without info ones, and an error budget
that says "not enough history" instead of a nonsense percentage."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from generators.dashboard_queries import queries, substitute
from generators.dashboards import DASHBOARDS, OUTPUT_DIR
from generators.thresholds import load, seconds

from acs_exporter.definitions.metrics import CURSOR_LAG
from support.promtool import promtool_test

FILES = sorted(DASHBOARDS)
END_REASONS = "acs-call-end-reasons.json"
CLUSTER = 'cluster=~"$cluster"'
NOT_ENOUGH_HISTORY = "not enough history"


def committed(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((OUTPUT_DIR / name).read_text(encoding="utf-8"))
    return data


def panel(name: str, title: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in committed(name)["panels"] if p.get("title") == title)
    return found


# --- cluster ---------------------------------------------------------------------------------


def test_the_rules_keep_the_cluster_label() -> None:
    """The recording rules the dashboards read must not aggregate `cluster` away."""
    thresholds = yaml.safe_load((OUTPUT_DIR.parent / "alerts" / "thresholds.yaml").read_text())
    assert "cluster" in thresholds["aggregation_labels"]
    rules = (OUTPUT_DIR.parent / "alerts" / "acs-exporter.rules.yaml").read_text()
    for by in re.findall(r"sum by \(([^)]*)\)", rules):
        if "source" in by and "job" in by:
            assert "cluster" in by, f"a recording rule sums by ({by}), dropping cluster"


@pytest.mark.parametrize("name", FILES)
def test_a_cluster_variable_comes_first_and_defaults_to_all(name: str) -> None:
    variables = committed(name)["templating"]["list"]
    names = [v["name"] for v in variables]
    assert names[:2] == ["datasource", "cluster"], names
    cluster = variables[1]
    assert cluster["includeAll"]
    assert cluster["allValue"] == ".*"
    assert cluster["current"]["value"] == "$__all"
    # The other label_values() variables list only the selected clusters' values.
    for variable in variables[2:]:
        if variable["type"] == "query":
            assert CLUSTER in variable["query"]["query"], variable["name"]


@pytest.mark.parametrize("name", FILES)
def test_every_selector_of_every_query_filters_on_cluster(name: str) -> None:
    for query in queries(committed(name)):
        if query.kind == "variable":
            continue
        selectors = re.findall(r"\{[^{}]*\}", query.expr)
        assert selectors, f"{query.where}: no selector: {query.expr}"
        for selector in selectors:
            assert CLUSTER in selector, f"{query.where}: {selector} ignores $cluster"


def test_all_clusters_matches_series_without_a_cluster_label() -> None:
    """All is `.*`, which also matches an absent label: single-cluster setups see everything."""
    assert substitute(f"x{{{CLUSTER}}}") == 'x{cluster=~".*"}'


# --- freshness -------------------------------------------------------------------------------


def test_the_end_reasons_dashboard_says_how_late_its_counts_are() -> None:
    stat = panel(END_REASONS, "Data freshness")
    assert stat["type"] == "stat"
    expr = stat["targets"][0]["expr"]
    assert expr.startswith(f"max({CURSOR_LAG.sample}{{")
    assert CLUSTER in expr
    assert 'source=~"$source"' in expr
    defaults = stat["fieldConfig"]["defaults"]
    assert defaults["unit"] == "s"
    steps = defaults["thresholds"]["steps"]
    assert steps[-1] == {"color": "red", "value": seconds(load().exporter.cursor_lag)}


# --- firing alerts ---------------------------------------------------------------------------


def _alerts_selectors(expr: str) -> list[str]:
    return re.findall(r"ALERTS\{[^{}]*\}", expr)


def test_firing_alerts_stat_leaves_out_info_alerts() -> None:
    expr = panel(END_REASONS, "Firing ACS alerts")["targets"][0]["expr"]
    selectors = _alerts_selectors(expr)
    assert selectors
    for selector in selectors:
        assert 'severity!="info"' in selector, selector


@pytest.mark.parametrize("name", FILES)
def test_no_alert_annotation_marks_info_alerts(name: str) -> None:
    """The same class: an info alert is no incident, so no red mark on every graph either."""
    for query in queries(committed(name)):
        for selector in _alerts_selectors(query.expr):
            assert 'severity!="info"' in selector or 'severity="' in selector, (
                f"{query.where}: {selector} includes info alerts"
            )


# --- error budget ----------------------------------------------------------------------------


def _budget_left() -> dict[str, Any]:
    return panel(END_REASONS, "Error budget left (3 days)")


def test_budget_left_maps_no_value_to_not_enough_history() -> None:
    assert _budget_left()["fieldConfig"]["defaults"]["noValue"] == NOT_ENOUGH_HISTORY


def _promtool_case(expr: str, interval: str, points: int, at: str, expect: list[Any]) -> Any:
    labels = '{cluster="c1", namespace="n", job="acs-exporter", source="s1"}'
    return {
        "interval": interval,
        "input_series": [
            {
                "series": f"source:acs_call_ends_unexpected_server_error:ratio_rate3d{labels}",
                "values": f"0.001x{points}",
            },
            {"series": f"source:acs_call_ends:rate5m{labels}", "values": f"20x{points}"},
        ],
        "promql_expr_test": [{"expr": expr, "eval_time": at, "exp_samples": expect}],
    }


def test_budget_left_is_empty_until_three_days_of_history(tmp_path: Path) -> None:
    """On Prometheus' own engine (promtool): seven minutes of data give no value (the stat then
    reads "not enough history", not -1829%); three days give the budget actually left."""
    expr = substitute(_budget_left()["targets"][0]["expr"])
    left = 1 - 0.001 / round(1 - load().slo.target, 10)
    cases = [
        _promtool_case(expr, "1m", 7, "7m", []),
        _promtool_case(expr, "1m", 60 * 70, "70h", []),
        _promtool_case(expr, "1h", 80, "75h", [{"labels": "{}", "value": left}]),
    ]
    code, output = promtool_test({"rule_files": [], "tests": cases}, tmp_path / "budget_test.yaml")
    assert code == 0, output


@pytest.mark.parametrize("name", FILES)
def test_alert_annotations_are_tagged_with_their_cluster(name: str) -> None:
    for annotation in committed(name)["annotations"]["list"]:
        assert "cluster" in annotation["tagKeys"].split(","), annotation["name"]
