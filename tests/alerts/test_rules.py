"""The alert rules: generated file fresh, promtool clean, every alert unit-tested and documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, require_tool

# The rule generator is a build tool in alerts/src, not part of the package.
sys.path.insert(0, str(REPO / "alerts" / "src"))
from generate_rules import OUTPUT, main, render
from generators.thresholds import ThresholdsError, load

RULES = REPO / "alerts" / "acs-exporter.rules.yaml"
TESTS = sorted((REPO / "alerts" / "tests").glob("*.test.yaml"))
RUNBOOKS = REPO / "docs" / "runbooks.md"
ALERTING = REPO / "docs" / "alerting.md"
SEVERITIES = {"critical", "warning", "info"}


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return groups


def alerts() -> list[dict[str, Any]]:
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


def alert_names() -> list[str]:
    return sorted({a["alert"] for a in alerts()})


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def test_committed_rules_are_generated_from_thresholds() -> None:
    assert OUTPUT == RULES
    assert RULES.read_text(encoding="utf-8") == render(load()), (
        "alerts/acs-exporter.rules.yaml is stale: run `make alerts`"
    )


def test_promtool_check_rules_is_clean() -> None:
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "warning" not in (result.stdout + result.stderr).lower()


@pytest.mark.parametrize("test_file", TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(test_file: Path) -> None:
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "test", "rules", test_file.name],
        cwd=test_file.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _expectations() -> list[tuple[str, list[dict[str, Any]]]]:
    found = []
    for path in TESTS:
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                found.append((check["alertname"], check.get("exp_alerts") or []))
    return found


@pytest.mark.parametrize("name", alert_names())
def test_every_alert_has_a_firing_and_a_silent_unit_test(name: str) -> None:
    checks = [expected for alertname, expected in _expectations() if alertname == name]
    assert any(checks), f"no promtool test shows {name} firing"
    assert any(not c for c in checks), f"no promtool test shows {name} silent"


def test_every_burn_rate_window_pair_fires_in_a_unit_test() -> None:
    fired = {
        (e["exp_labels"]["long"], e["exp_labels"]["short"])
        for name, expected in _expectations()
        if name == "ACSUnexpectedServerErrorBudgetBurn"
        for e in expected
    }
    pairs = {
        (a["labels"]["long"], a["labels"]["short"])
        for a in alerts()
        if a["alert"] == "ACSUnexpectedServerErrorBudgetBurn"
    }
    assert pairs == {("1h", "5m"), ("6h", "30m"), ("1d", "2h"), ("3d", "6h")}
    assert fired == pairs


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: f"{a['alert']}-{a['labels']['severity']}")
def test_alert_follows_mixin_conventions(alert: dict[str, Any]) -> None:
    assert re.fullmatch(r"ACS(?:[A-Z][a-z0-9]*)+", alert["alert"]), alert["alert"]
    assert alert["labels"]["severity"] in SEVERITIES
    annotations = alert["annotations"]
    assert set(annotations) == {"summary", "description", "runbook_url"}
    assert "{{" in annotations["description"], "description is not templated"
    assert annotations["runbook_url"].endswith("#" + alert["alert"].lower())


def test_recording_rules_follow_level_metric_operations_naming() -> None:
    records = [r["record"] for g in rule_groups() for r in g["rules"] if "record" in r]
    assert records
    for record in records:
        assert re.fullmatch(r"[a-z_]+:acs_[a-z_]+:[a-z0-9_]+", record), record


def test_every_alert_has_a_runbook_section() -> None:
    headings = {
        github_anchor(line.lstrip("#"))
        for line in RUNBOOKS.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    missing = [n for n in alert_names() if n.lower() not in headings]
    assert not missing, f"docs/runbooks.md lacks a section for {missing}"
    text = RUNBOOKS.read_text(encoding="utf-8")
    for name in alert_names():
        section = text.split(f"## {name}", 1)[1].split("\n## ", 1)[0]
        for part in ("Meaning", "Confirm", "Act"):
            assert f"**{part}" in section, f"runbook of {name} has no {part} part"


def test_alerting_doc_names_every_alert_and_threshold() -> None:
    text = ALERTING.read_text(encoding="utf-8")
    for name in alert_names():
        assert f"`{name}`" in text, f"docs/alerting.md does not mention {name}"
    thresholds = yaml.safe_load((REPO / "alerts" / "thresholds.yaml").read_text(encoding="utf-8"))
    for section in (
        "slo",
        "server_error_spike",
        "client_error_high",
        "category_disagreements",
        "media_failure_high",
        "exporter",
    ):
        for key in thresholds[section]:
            assert f"`{section}.{key}`" in text, f"docs/alerting.md does not explain {key}"


def test_invalid_thresholds_are_reported_with_file_and_field(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "alerts" / "thresholds.yaml").read_text(encoding="utf-8"))
    data["server_error_spike"]["share"] = 5
    data["exporter"]["cursor_lag"] = "half an hour"
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ThresholdsError) as error:
        load(path)
    message = str(error.value)
    assert str(path) in message
    assert "server_error_spike.share" in message
    assert "exporter.cursor_lag" in message
    assert "half an hour" in message


def test_slo_target_changes_every_burn_rate_threshold(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "alerts" / "thresholds.yaml").read_text(encoding="utf-8"))
    data["slo"]["target"] = 0.999
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    text = render(load(path))
    assert text.count("(1 - 0.999)") == 8
    assert "(1 - 0.995)" not in text


def test_generator_reports_bad_thresholds_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load((REPO / "alerts" / "thresholds.yaml").read_text(encoding="utf-8"))
    data["server_error_spike"]["baseline_window"] = "12h"
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["--thresholds", str(path), "--output", str(tmp_path / "out.yaml")]) == 2
    error = capsys.readouterr().err
    assert "server_error_spike.baseline_window" in error
    assert "12h" in error
    assert "Traceback" not in error
    assert not (tmp_path / "out.yaml").exists()
