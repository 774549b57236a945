"""alerts/alertmanager.example.yaml: valid for amtool, and routes every alert where it belongs."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from conftest import REPO, require_tool

CONFIG = REPO / "alerts" / "alertmanager.example.yaml"
RULES = REPO / "alerts" / "acs-exporter.rules.yaml"
RECEIVER_BY_SEVERITY = {"critical": "acs-pager", "warning": "acs-ticket", "info": "acs-chat"}


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("amtool"), *args], capture_output=True, text=True, check=False
    )


def test_example_config_passes_amtool_check_config() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _alert_labels() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return sorted(
        {
            (rule["alert"], rule["labels"]["severity"])
            for group in groups
            for rule in group["rules"]
            if "alert" in rule
        }
    )


@pytest.mark.parametrize(("alertname", "severity"), _alert_labels())
def test_every_alert_routes_to_the_receiver_of_its_severity(alertname: str, severity: str) -> None:
    expected = RECEIVER_BY_SEVERITY[severity]
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG}",
        f"--verify.receivers={expected}",
        f"alertname={alertname}",
        f"severity={severity}",
        "job=acs-exporter",
        "source=west",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == expected


def test_other_alerts_keep_the_default_route() -> None:
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG}",
        "--verify.receivers=default",
        "alertname=KubePodCrashLooping",
        "severity=critical",
    )
    assert result.returncode == 0, result.stdout + result.stderr
