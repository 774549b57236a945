"""Both dashboards against Grafana's published schema (@grafana/schema, see grafana_schema.py):
what today's Grafana reads, with no deprecated field left over from Grafana 10."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from generators.dashboards import DASHBOARDS, OUTPUT_DIR
from grafana_schema import (
    ENTRY,
    GENERATOR,
    PROMETHEUS_ANNOTATION_FIELDS,
    TOOLS,
    generate,
    open_for_prometheus,
    problems,
)

from conftest import require_path, require_tool

FILES = sorted(DASHBOARDS)
# Grafana 12's dashboard schema version; the SDK build pinned in pyproject.toml emits it.
CURRENT_SCHEMA_VERSION = 41


@pytest.fixture(scope="session")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require_tool("node")
    require_path(GENERATOR, "ts-json-schema-generator (run `make test`: npm ci in tools/grafana)")
    root = generate(tmp_path_factory.mktemp("grafana-schema") / "schema.json")
    root["dashboard"] = open_for_prometheus(root["dashboard"])
    return root


def committed(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((OUTPUT_DIR / name).read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("name", FILES)
def test_dashboard_validates_against_grafanas_published_schema(
    schema: dict[str, Any], name: str
) -> None:
    found = problems(schema, committed(name), name)
    assert not found, "\n".join(map(str, found))


@pytest.mark.parametrize("name", FILES)
def test_dashboard_has_a_current_schema_version(name: str) -> None:
    assert committed(name)["schemaVersion"] >= CURRENT_SCHEMA_VERSION


def _first(data: dict[str, Any], kind: str) -> dict[str, Any]:
    panel: dict[str, Any] = next(p for p in data["panels"] if p["type"] == kind)
    return panel


def _spoil(data: dict[str, Any]) -> dict[str, Any]:
    """The Grafana 10 leftovers the SDK upgrade removed, and a few typos, put back."""
    spoiled = copy.deepcopy(data)
    spoiled["style"] = "dark"
    spoiled["templating"]["list"][0]["auto_count"] = 30
    spoiled["annotations"]["list"][0]["step"] = "60s"
    spoiled["annotations"]["list"][0]["titelFormat"] = "{{alertname}}"
    _first(spoiled, "table")["options"]["footer"] = {"show": False}
    _first(spoiled, "stat")["options"]["colourMode"] = "value"
    _first(spoiled, "timeseries")["fieldConfig"]["defaults"]["custom"]["lineWidht"] = 1
    return spoiled


def test_the_schema_rejects_deprecated_and_unknown_fields(schema: dict[str, Any]) -> None:
    """The validation above means something: each spoiled field is named, with its path."""
    name = "acs-call-end-reasons.json"
    found = [str(p) for p in problems(schema, _spoil(committed(name)), name)]
    expected = {
        "style": f"{name}: ",
        "auto_count": f"{name}/templating/list/0: ",
        "step": f"{name}/annotations/list/0: ",
        "titelFormat": f"{name}/annotations/list/0: ",
        "footer": ": options: ",
        "colourMode": ": options: ",
        "lineWidht": ": fieldConfig.defaults.custom: ",
    }
    for field, where in expected.items():
        assert any(where in line and f"'{field}'" in line for line in found), "\n".join(found)
    assert all("unexpected" in line for line in found), "\n".join(found)


def test_only_the_prometheus_annotation_fields_are_let_through(schema: dict[str, Any]) -> None:
    data = committed("acs-call-end-reasons.json")
    annotation = data["annotations"]["list"][0]
    assert set(PROMETHEUS_ANNOTATION_FIELDS) <= set(annotation)
    annotation["useValueForTime"] = "no"
    found = "\n".join(map(str, problems(schema, data, "x.json")))
    assert "annotations/list/0/useValueForTime: 'no' is not of type 'boolean'" in found


def test_the_schema_entry_names_every_panel_type_the_dashboards_use() -> None:
    entry = ENTRY.read_text(encoding="utf-8")
    used = {p["type"] for name in FILES for p in committed(name)["panels"]} - {"row"}
    for kind in used:
        assert f"  {kind}: {{ options: " in entry, f"dashboard-schema.ts lacks panel type {kind}"


def test_tools_grafana_is_locked() -> None:
    lock = json.loads((TOOLS / "package-lock.json").read_text(encoding="utf-8"))
    wanted = json.loads((TOOLS / "package.json").read_text(encoding="utf-8"))["dependencies"]
    for package, version in wanted.items():
        assert lock["packages"][f"node_modules/{package}"]["version"] == version
