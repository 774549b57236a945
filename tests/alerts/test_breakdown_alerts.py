"""Alerts per breakdown (#13): with `resource` (or `sdk_version`) in thresholds.yaml's
aggregation_labels, one bad resource (or SDK release) pages while the fleet-wide share stays
low, and the rules as shipped (fleet-wide) stay silent on the same data. Real promtool, on
rules generated from the shipped thresholds with only aggregation_labels changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from generators.rules import render
from generators.thresholds import load

from conftest import REPO
from support.promtool import promtool_test

SHIPPED = REPO / "alerts" / "acs-exporter.rules.yaml"
RUNBOOK = "https://github.com/acs-exporter/acs-exporter/blob/main/docs/runbooks.md#"
SERVER = "UnexpectedServerError"
CLIENT = "UnexpectedClientError"


def _series(label: str, value: str, category: str, code: str, values: str) -> dict[str, str]:
    return {
        "series": f'acs_call_ends_total{{job="acs-exporter",{label}="{value}",code="{code}",'
        f'subcode="0",category="{category}"}}',
        "values": values,
    }


def _inputs(label: str, bad: str, category: str) -> list[dict[str, str]]:
    """A big healthy value (1000 calls/min, 0.2% errors) and a small one (60 calls/min) whose
    errors go from 2/min to 30/min (50%) at 20m: fleet-wide that is under 3%."""
    return [
        _series(label, "big", "Success", "0", "0+998x80"),
        _series(label, "big", category, "500", "0+2x80"),
        _series(label, bad, "Success", "0", "0+58x20 1160+30x60"),
        _series(label, bad, category, "500", "0+2x20 40+30x60"),
    ]


CASES = [
    # (label, alert, category, severity, description, when it has fired)
    (
        "resource",
        "ACSUnexpectedServerErrorSpike",
        SERVER,
        "critical",
        "50% of participant call ends of job acs-exporter, resource acs-small ended in "
        "UnexpectedServerError over the last 5 minutes, above 5% and more than 3x the usual "
        "share. Calls are failing on Microsoft's side.",
        "35m",
    ),
    (
        "resource",
        "ACSUnexpectedClientErrorHigh",
        CLIENT,
        "warning",
        "50% of participant call ends of job acs-exporter, resource acs-small ended in "
        "UnexpectedClientError over the last 5 minutes (threshold 10%): clients, their "
        "networks or permissions are failing calls.",
        "45m",
    ),
    (
        "sdk_version",
        "ACSUnexpectedClientErrorHigh",
        CLIENT,
        "warning",
        "50% of participant call ends of job acs-exporter, SDK 1.31 ended in "
        "UnexpectedClientError over the last 5 minutes (threshold 10%): clients, their "
        "networks or permissions are failing calls.",
        "45m",
    ),
]


def _promtool(tmp_path: Path, rules: Path, test: dict[str, Any]) -> None:
    document = {"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": [test]}
    code, output = promtool_test(document, tmp_path / f"{rules.stem}.test.yaml")
    assert code == 0, output


@pytest.mark.parametrize(
    ("label", "alert", "category", "severity", "description", "fired"),
    CASES,
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
def test_one_bad_breakdown_pages_while_the_fleet_stays_silent(
    tmp_path: Path,
    label: str,
    alert: str,
    category: str,
    severity: str,
    description: str,
    fired: str,
) -> None:
    shipped = load()
    per_label = shipped.model_copy(
        update={"aggregation_labels": [*shipped.aggregation_labels, label]}
    )
    rules = tmp_path / "per-breakdown.rules.yaml"
    rules.write_text(render(per_label))
    bad = "1.31" if label == "sdk_version" else "acs-small"
    labels = {"severity": severity, "job": "acs-exporter", label: bad}
    if category == CLIENT:  # the client-error alert keeps the category it is about
        labels["category"] = CLIENT
    expected = {
        "exp_labels": labels,
        "exp_annotations": {
            "summary": _summary(alert),
            "description": description,
            "runbook_url": RUNBOOK + alert.lower(),
        },
    }
    checks = [
        {"eval_time": "19m", "alertname": alert, "exp_alerts": []},
        {"eval_time": fired, "alertname": alert, "exp_alerts": [expected]},
    ]
    test = {"interval": "1m", "input_series": _inputs(label, bad, category)}
    _promtool(tmp_path, rules, test | {"name": f"per {label}", "alert_rule_test": checks})
    silent = [{"eval_time": t, "alertname": alert, "exp_alerts": []} for t in ("19m", fired, "80m")]
    _promtool(tmp_path, SHIPPED, test | {"name": "fleet-wide", "alert_rule_test": silent})


def _summary(alert: str) -> str:
    for group in yaml.safe_load(SHIPPED.read_text())["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                return str(rule["annotations"]["summary"])
    raise AssertionError(f"no {alert} in {SHIPPED}")
