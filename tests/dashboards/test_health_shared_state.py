"""The health dashboard on a state.backend azure_blob deployment (a leader and hot standbys).

A standby polls nothing: its acs_exporter_source_up is 0 and it has no last-poll time, and a
leader that stepped down keeps its last poll time and cursor, which then age. The stats that
answer "is the exporter reading ACS logs on time?" must read the leader, as the alerts do, or a
healthy deployment shows red. The dashboard's own queries (variables at All) are evaluated by
promtool on such a deployment, and on a file-backend exporter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from generators.dashboard_queries import queries

from conftest import REPO
from support.promtool import promtool_test

HEALTH = REPO / "dashboards" / "acs-exporter-health.json"
END_REASONS = REPO / "dashboards" / "acs-call-end-reasons.json"

# One leader (10.0.0.1) polling every minute, a standby that never led (10.0.0.2), and one that
# led until minute 10 (10.0.0.3): its last poll and cursor are frozen since.
HA_DEPLOYMENT = [
    ("acs_exporter_state_leader", "10.0.0.1", "1x60"),
    ("acs_exporter_state_leader", "10.0.0.2", "0x60"),
    ("acs_exporter_state_leader", "10.0.0.3", "1x10 0x50"),
    ("acs_exporter_state_store_up", "10.0.0.1", "1x60"),
    ("acs_exporter_state_store_up", "10.0.0.2", "1x60"),
    ("acs_exporter_state_store_up", "10.0.0.3", "1x60"),
    ("acs_exporter_source_up", "10.0.0.1", "1x60"),
    ("acs_exporter_source_up", "10.0.0.2", "0x60"),
    ("acs_exporter_source_up", "10.0.0.3", "1x60"),
    ("acs_exporter_last_successful_poll_timestamp_seconds", "10.0.0.1", "0+60x60"),
    ("acs_exporter_last_successful_poll_timestamp_seconds", "10.0.0.3", "0+60x10 600x50"),
    ("acs_exporter_cursor_lag_seconds", "10.0.0.1", "120x60"),
    ("acs_exporter_cursor_lag_seconds", "10.0.0.3", "120x10 180+60x50"),
]
FILE_BACKEND = [
    ("acs_exporter_source_up", "10.0.0.9", "1x60"),
    ("acs_exporter_last_successful_poll_timestamp_seconds", "10.0.0.9", "0+60x60"),
    ("acs_exporter_cursor_lag_seconds", "10.0.0.9", "120x60"),
]
# At minute 50: (panel title, labels, value). The leader polled this minute, 120 s behind.
HEALTHY = [
    ("Sources up", "{}", 1.0),
    ("Since last successful poll", "{}", 0.0),
    ("Cursor lag", "{}", 120.0),
]
# Leaders per deployment: two healthy ones under Job "All" are not two leaders.
STATE = [("Leaders", '{job="acs-exporter"}', 1.0), ("Checkpoint blob reachable", "{}", 1.0)]
Expected = list[tuple[str, str, float]]


def _stat_query(title: str, board: Path = HEALTH) -> str:
    data = json.loads(board.read_text(encoding="utf-8"))
    found = [q for q in queries(data) if q.kind == "panel" and q.where == title]
    assert found, f"the health dashboard has no panel {title!r}"
    return found[0].substituted()


def _series(rows: list[tuple[str, str, str]], source: bool) -> list[dict[str, str]]:
    out = []
    for name, instance, values in rows:
        labels = f'job="acs-exporter",instance="{instance}:10142"'
        if source and not name.startswith("acs_exporter_state_"):
            labels += ',source="west"'
        out.append({"series": f"{name}{{{labels}}}", "values": values})
    return out


def _evaluate(rows: list[tuple[str, str, str]], expected: Expected, tmp: Path) -> str:
    """promtool's output for the panels' queries at minute 50 (empty list: no value)."""
    tests: dict[str, Any] = {
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": _series(rows, source=True),
                "promql_expr_test": [
                    {
                        "expr": _stat_query(title),
                        "eval_time": "50m",
                        "exp_samples": [{"labels": labels, "value": value}],
                    }
                    for title, labels, value in expected
                ],
            }
        ],
    }
    return promtool_test(tests, tmp / "health.test.yaml")[1]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [(HA_DEPLOYMENT, HEALTHY + STATE), (FILE_BACKEND, HEALTHY)],
    ids=["azure-blob-leader-and-standbys", "file-backend"],
)
def test_the_on_time_stats_read_the_leader_and_a_healthy_deployment_shows_healthy(
    rows: list[tuple[str, str, str]], expected: Expected, tmp_path: Path
) -> None:
    output = _evaluate(rows, expected, tmp_path)
    assert "SUCCESS" in output, output


def test_the_end_reasons_dashboard_counts_the_calls_replicas_share_once(tmp_path: Path) -> None:
    """Every replica serves the checkpoint's counters: 3 call ends a minute on each of three
    replicas are 3 call ends a minute, as the recording rules count them."""
    rows = [
        ("acs_exporter_state_leader", f"10.0.0.{i}", "1x60" if i == 1 else "0x60")
        for i in (1, 2, 3)
    ]
    series = [
        {
            "series": f'acs_call_ends_total{{job="acs-exporter",instance="10.0.0.{i}:10142",'
            'code="0",subcode="0",category="Success"}',
            "values": "0+3x60",
        }
        for i in (1, 2, 3)
    ]
    rate = {"labels": '{category="Success",code="0",subcode="0"}', "value": 0.05}
    tests: dict[str, Any] = {
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": _series(rows, source=False) + series,
                "promql_expr_test": [
                    {
                        "expr": _stat_query("Call ends by end reason", END_REASONS),
                        "eval_time": "50m",
                        "exp_samples": [rate],
                    }
                ],
            }
        ],
    }
    output = promtool_test(tests, tmp_path / "end-reasons.test.yaml")[1]
    assert "SUCCESS" in output, output
