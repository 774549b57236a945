"""The chart's copies of alerts/ and dashboards/: in sync with the originals, rendered into a
PrometheusRule that promtool accepts and into dashboard ConfigMaps holding valid dashboards."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from helm_python.errors import HelmRenderError
from helm_support import CHART_DIR, FULLNAME, chart_with_content, render

from conftest import REPO, require_tool


def load_sync_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_chart", REPO / "tools" / "sync_chart.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


sync_chart = load_sync_tool()


@pytest.fixture(scope="module")
def content_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chart_with_content(tmp_path_factory.mktemp("chart"))


def rule_groups(values: dict[str, Any], chart: Path) -> list[dict[str, Any]]:
    merged = {"prometheusRule": {"enabled": True, **values}}
    groups: list[dict[str, Any]] = render(merged, chart).one("PrometheusRule")["spec"]["groups"]
    return groups


def alerts(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


# --- the copies ---------------------------------------------------------------------------


def test_chart_copies_match_alerts_dashboards_and_source_settings() -> None:
    problems = sync_chart.drift() + sync_chart.schema_drift()
    assert problems == [], "\n".join([*problems, "run `make chart-sync` and commit the copies"])


def test_drift_is_detected_and_sync_repairs_it(tmp_path: Path) -> None:
    source, target = tmp_path / "alerts", tmp_path / "chart-alerts"
    source.mkdir()
    (source / "acs.yaml").write_text("groups: []\n")
    (source / "tests").mkdir()
    (source / "tests" / "acs_test.yaml").write_text("rule_files: []\n")
    (source / "thresholds.yaml").write_text("slo: {target: 0.995}\n")
    target.mkdir()
    (target / "gone.yaml").write_text("groups: []\n")
    copy_set = sync_chart.CopySet(source, "*.yaml", target, sync_chart.not_a_rule_file)
    copy_sets = (copy_set,)
    assert copy_set.left_out() == [
        f"{source / 'thresholds.yaml'}: left out, no top-level `groups` list"
    ]

    problems = sync_chart.drift(copy_sets)
    assert any("acs.yaml: missing" in problem for problem in problems)
    assert any("gone.yaml: stale" in problem for problem in problems)

    sync_chart.sync(copy_sets)
    assert sync_chart.drift(copy_sets) == []
    # Rule tests and files that are not rule files stay out.
    assert sorted(path.name for path in target.iterdir()) == ["acs.yaml"]

    (source / "acs.yaml").write_text("groups: [{name: x, rules: []}]\n")
    assert any("acs.yaml: differs" in problem for problem in sync_chart.drift(copy_sets))


def test_sync_check_mode_exit_status() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "sync_chart.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    drifted = sync_chart.drift() + sync_chart.schema_drift()
    assert result.returncode == (1 if drifted else 0), result.stderr


# --- PrometheusRule ----------------------------------------------------------------------


def test_rendered_rule_groups_pass_promtool(content_chart: Path, tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": rule_groups({}, content_chart)}))
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_groups_are_exactly_the_source_files(content_chart: Path) -> None:
    expected = []
    for path in sorted((content_chart / "files" / "alerts").glob("*.yaml")):
        expected.extend(yaml.safe_load(path.read_text())["groups"])
    assert rule_groups({}, content_chart) == expected


def test_additional_rule_labels_go_on_alerts_only_and_never_override(content_chart: Path) -> None:
    plain = rule_groups({}, content_chart)
    labelled = rule_groups(
        {"additionalRuleLabels": {"team": "sre", "severity": "ignored"}}, content_chart
    )
    for plain_group, group in zip(plain, labelled, strict=True):
        for original, rule in zip(plain_group["rules"], group["rules"], strict=True):
            if "alert" not in rule:
                assert rule == original, "recording rules are left alone"
                continue
            assert rule["labels"]["team"] == "sre"
            expected_severity = original.get("labels", {}).get("severity", "ignored")
            assert rule["labels"]["severity"] == expected_severity


def test_disabled_alerts_are_left_out(content_chart: Path) -> None:
    names = [rule["alert"] for rule in alerts(rule_groups({}, content_chart))]
    remaining = alerts(rule_groups({"disabledAlerts": names[:1]}, content_chart))
    assert [rule["alert"] for rule in remaining] == [name for name in names if name != names[0]]


def test_prometheus_rule_without_rule_files_fails_loudly(tmp_path: Path) -> None:
    empty = tmp_path / "acs-exporter"
    shutil.copytree(CHART_DIR, empty, ignore=shutil.ignore_patterns("*.yaml", "*.json"))
    shutil.copytree(CHART_DIR / "templates", empty / "templates", dirs_exist_ok=True)
    for name in ("Chart.yaml", "values.yaml", "values.schema.json"):
        shutil.copy(CHART_DIR / name, empty / name)
    with pytest.raises(HelmRenderError, match="no alert rules"):
        render({"prometheusRule": {"enabled": True}}, empty)
    with pytest.raises(HelmRenderError, match="no dashboards"):
        render({"dashboards": {"enabled": True}}, empty)


# --- dashboards ----------------------------------------------------------------------------


def dashboard_config_maps(values: dict[str, Any], chart: Path) -> list[dict[str, Any]]:
    rendered = render({"dashboards": {"enabled": True, **values}}, chart)
    return [doc for doc in rendered.all("ConfigMap") if doc["metadata"]["name"] != FULLNAME]


def test_each_dashboard_file_becomes_one_config_map_with_the_same_json(
    content_chart: Path,
) -> None:
    sources = sorted((content_chart / "files" / "dashboards").glob("*.json"))
    config_maps = dashboard_config_maps({}, content_chart)
    assert len(config_maps) == len(sources)
    by_key = {key: value for cm in config_maps for key, value in cm["data"].items()}
    for source in sources:
        assert json.loads(by_key[source.name]) == json.loads(source.read_text())


def test_dashboard_config_maps_hold_valid_dashboards(content_chart: Path) -> None:
    for config_map in dashboard_config_maps({}, content_chart):
        ((key, text),) = config_map["data"].items()
        dashboard = json.loads(text)
        where = f"ConfigMap {config_map['metadata']['name']} key {key}"
        assert isinstance(dashboard.get("title"), str), where
        assert dashboard["title"], where
        assert isinstance(dashboard.get("uid"), str), where
        assert dashboard["uid"], where
        assert isinstance(dashboard.get("panels"), list), where
        assert dashboard["panels"], where
        # The Grafana sidecar provisions files as they are: export-time inputs
        # (${DS_PROMETHEUS}) would never be resolved.
        assert "__inputs" not in dashboard, where
        assert "${DS_" not in text, where
        assert len(text.encode()) < 1024 * 1024, f"{where}: over the 1 MiB ConfigMap limit"


def test_dashboard_label_folder_and_namespace_are_configurable(content_chart: Path) -> None:
    config_maps = dashboard_config_maps(
        {
            "namespace": "grafana",
            "label": "grafana_dashboard_acs",
            "labelValue": "yes",
            "folderAnnotation": "k8s-sidecar-target-directory",
            "folder": "/tmp/dashboards/ACS",
            "labels": {"team": "sre"},
        },
        content_chart,
    )
    for config_map in config_maps:
        metadata = config_map["metadata"]
        assert metadata["namespace"] == "grafana"
        assert metadata["labels"]["grafana_dashboard_acs"] == "yes"
        assert "grafana_dashboard" not in metadata["labels"]
        assert metadata["labels"]["team"] == "sre"
        assert metadata["annotations"] == {"k8s-sidecar-target-directory": "/tmp/dashboards/ACS"}


def test_dashboard_folder_annotation_can_be_left_out(content_chart: Path) -> None:
    for config_map in dashboard_config_maps({"folder": ""}, content_chart):
        assert "annotations" not in config_map["metadata"]


def test_a_file_that_is_not_a_rule_file_is_refused(content_chart: Path, tmp_path: Path) -> None:
    chart = tmp_path / "acs-exporter"
    shutil.copytree(content_chart, chart)
    (chart / "files" / "alerts" / "thresholds.yaml").write_text("slo: {target: 0.995}\n")
    with pytest.raises(HelmRenderError, match=r"thresholds\.yaml: not a Prometheus rule file"):
        render({"prometheusRule": {"enabled": True}}, chart)
