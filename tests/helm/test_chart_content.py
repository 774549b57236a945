"""The chart reaches the canonical alerts/ and dashboards/ through symbolic links (no second
copy in git), renders them into a PrometheusRule that promtool accepts and into dashboard
ConfigMaps holding the files' exact bytes, and packages them as regular files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_python.chart import Chart, package
from helm_python.errors import HelmChartLoadError, HelmRenderError
from helm_support import (
    CHART_DIR,
    FULLNAME,
    NAMESPACE,
    RELEASE,
    canonical_artefacts,
    canonical_rule_files,
    chart_with_content,
    render,
)

from conftest import REPO, require_tool

SYMLINK_MODE = "120000"


@pytest.fixture(scope="module")
def content_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chart_with_content(tmp_path_factory.mktemp("chart"))


def rule_groups(values: dict[str, Any], chart: Path) -> list[dict[str, Any]]:
    merged = {"prometheusRule": {"enabled": True, **values}}
    groups: list[dict[str, Any]] = render(merged, chart).one("PrometheusRule")["spec"]["groups"]
    return groups


def alerts(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


# --- one copy: the canonical files, linked from the chart ---------------------------------


def tracked_files() -> list[tuple[str, str, str]]:
    """(mode, blob hash, path) of every file git tracks in the repository."""
    git = require_tool("git")
    listing = subprocess.run(
        [git, "-C", str(REPO), "ls-files", "-s", "-z"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    entries = []
    for entry in filter(None, listing.split("\0")):
        info, path = entry.split("\t", 1)
        mode, blob, _stage = info.split()
        entries.append((mode, blob, path))
    return entries


def test_git_tracks_no_second_copy_of_an_artefact() -> None:
    canonical = {
        str(path.relative_to(REPO)) for paths in canonical_artefacts().values() for path in paths
    }
    entries = tracked_files()
    blobs = {blob for mode, blob, path in entries if path in canonical}
    assert len(blobs) == len(canonical), f"not all of {sorted(canonical)} are tracked"
    copies = [
        path
        for mode, blob, path in entries
        if blob in blobs and path not in canonical and mode != SYMLINK_MODE
    ]
    assert copies == [], f"tracked copies of generated artefacts: {copies}"
    chart_files = [
        (mode, path)
        for mode, _blob, path in entries
        if path.startswith("deploy/helm/acs-exporter/files/")
    ]
    assert chart_files, "the chart tracks no links to the artefacts"
    assert [path for mode, path in chart_files if mode != SYMLINK_MODE] == [], (
        "the chart's files/ must hold links only"
    )


def test_the_chart_links_every_artefact_and_nothing_else() -> None:
    for kind, originals in canonical_artefacts().items():
        linked = sorted((CHART_DIR / "files" / kind).iterdir())
        names = [path.name for path in linked]
        assert names == [path.name for path in originals], (
            f"files/{kind}/ must link exactly {kind}/'s artefacts: "
            f"cd {CHART_DIR / 'files' / kind} && ln -s ../../../../../{kind}/<name> ."
        )
        for link, original in zip(linked, originals, strict=True):
            assert link.is_symlink(), f"{link} is a copy, not a link"
            # Relative, so the link holds in any checkout.
            assert not os.path.isabs(os.readlink(link)), f"{link}: absolute link"
            assert link.resolve() == original.resolve(), f"{link} points elsewhere"


def test_a_chart_copied_without_its_links_targets_fails_naming_the_file(tmp_path: Path) -> None:
    detached = tmp_path / "acs-exporter"
    shutil.copytree(CHART_DIR, detached, symlinks=True)
    with pytest.raises(
        HelmChartLoadError, match=r"files/(alerts/thresholds|dashboards/acs-exporter)"
    ):
        render({"dashboards": {"enabled": True}}, detached)


def test_the_packaged_chart_holds_the_artefacts_as_regular_files(tmp_path: Path) -> None:
    archive = Path(package(CHART_DIR, destination=tmp_path))
    with tarfile.open(archive) as tar:
        for kind, originals in canonical_artefacts().items():
            for original in originals:
                member = tar.getmember(f"acs-exporter/files/{kind}/{original.name}")
                assert member.isfile(), f"{member.name}: not a regular file in the package"
                extracted = tar.extractfile(member)
                assert extracted is not None
                assert extracted.read() == original.read_bytes(), member.name
    with Chart.load_archive(archive.read_bytes()) as chart:
        templates = chart.render(
            {"dashboards": {"enabled": True}, "prometheusRule": {"enabled": True}},
            name=RELEASE,
            namespace=NAMESPACE,
        )
    assert any(path.endswith("prometheusrule.yaml") and text for path, text in templates.items())
    assert sum("kind: ConfigMap" in text for text in templates.values()) > 1


# --- PrometheusRule ----------------------------------------------------------------------


def test_rendered_rule_groups_pass_promtool(content_chart: Path, tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": rule_groups({}, content_chart)}))
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_groups_are_exactly_the_canonical_rule_files() -> None:
    """With default values the PrometheusRule holds, as data, the groups of alerts/*.rules
    files (the chart renders them from templates/_rules.tpl, generated with them)."""
    expected = []
    rule_files = canonical_rule_files()
    assert rule_files
    for path in rule_files:
        expected.extend(yaml.safe_load(path.read_text())["groups"])
    assert rule_groups({}, CHART_DIR) == expected


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
    with pytest.raises(HelmRenderError, match=r"no alert rules: files/alerts/thresholds\.yaml"):
        render({"prometheusRule": {"enabled": True}}, empty)
    with pytest.raises(HelmRenderError, match="no dashboards"):
        render({"dashboards": {"enabled": True}}, empty)


# --- dashboards ----------------------------------------------------------------------------


def dashboard_config_maps(values: dict[str, Any], chart: Path) -> list[dict[str, Any]]:
    rendered = render({"dashboards": {"enabled": True, **values}}, chart)
    return [doc for doc in rendered.all("ConfigMap") if doc["metadata"]["name"] != FULLNAME]


def dashboards_by_key(chart: Path) -> dict[str, str]:
    config_maps = dashboard_config_maps({}, chart)
    by_key = {key: value for cm in config_maps for key, value in cm["data"].items()}
    assert len(by_key) == len(config_maps), "one dashboard per ConfigMap"
    return by_key


def test_each_dashboard_becomes_one_config_map_with_the_canonical_bytes() -> None:
    sources = canonical_artefacts()["dashboards"]
    by_key = dashboards_by_key(CHART_DIR)
    assert sorted(by_key) == [source.name for source in sources]
    for source in sources:
        assert by_key[source.name].encode() == source.read_bytes(), source.name


# Text a block scalar or a template would change: no final newline, blank and indented lines,
# trailing spaces, tabs, quotes, backslashes, template braces, document markers, non-ASCII.
AWKWARD_TEXTS = {
    "no-final-newline.json": '{"title": "x"}',
    "blank-lines.json": '\n\n  {"title": "x"}  \t\n\n\n',
    "odd-characters.json": '{"a": "\\t\\"<&>", "b": "{{ .Values }}",\n"c": "---\\n\u00e9\u2603"}\n',
}


def test_dashboard_bytes_survive_any_text(tmp_path: Path) -> None:
    chart = tmp_path / "acs-exporter"
    shutil.copytree(CHART_DIR, chart)
    for name, text in AWKWARD_TEXTS.items():
        (chart / "files" / "dashboards" / name).write_bytes(text.encode())
    by_key = dashboards_by_key(chart)
    for name, text in AWKWARD_TEXTS.items():
        assert by_key[name] == text, name


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


@pytest.mark.parametrize(
    "text",
    ["groups: []\n", "exporter: 15m\n", "slo: [unclosed\n"],
    ids=["a-rule-file", "no-sections", "not-yaml"],
)
def test_a_thresholds_file_that_is_not_one_is_refused_naming_it(text: str, tmp_path: Path) -> None:
    chart = tmp_path / "acs-exporter"
    shutil.copytree(CHART_DIR, chart)
    (chart / "files" / "alerts" / "thresholds.yaml").write_text(text)
    with pytest.raises(HelmRenderError, match=r"files/alerts/thresholds\.yaml"):
        render({"prometheusRule": {"enabled": True}}, chart)


# A checkout without symbolic links (git core.symlinks=false, some archive tools) stores each
# link as a small text file holding its target: refused by name, never shipped as a dashboard.
@pytest.mark.parametrize(
    ("kind", "name", "values"),
    [
        ("dashboards", "acs-exporter-health.json", {"dashboards": {"enabled": True}}),
        ("alerts", "thresholds.yaml", {"prometheusRule": {"enabled": True}}),
    ],
)
def test_a_link_stored_as_text_is_refused_naming_the_file(
    kind: str, name: str, values: dict[str, Any], tmp_path: Path
) -> None:
    chart = tmp_path / "acs-exporter"
    shutil.copytree(CHART_DIR, chart)
    (chart / "files" / kind / name).write_text(f"../../../../../{kind}/{name}")
    with pytest.raises(HelmRenderError, match=rf"files/{kind}/{re.escape(name)}: .*symbolic link"):
        render(values, chart)
