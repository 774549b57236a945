"""values.schema.json: describes every value, and rejects bad ones with a message naming the key.
The chart README documents every value too."""

from __future__ import annotations

import json
import re
from typing import Any, get_args

import pytest
from helm_python.chart import Chart
from helm_python.errors import HelmValuesError
from helm_support import CHART_DIR, load_values
from pydantic import BaseModel

SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())
DEFAULTS = load_values(CHART_DIR / "values.yaml")


def leaf_paths(values: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of values.yaml, descending where the schema describes sub-keys."""
    paths = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        paths.append(path)
        child = schema.get("properties", {}).get(key)
        if isinstance(value, dict) and child and "properties" in child:
            paths.extend(leaf_paths(value, child, f"{path}."))
    return paths


def schema_node(path: str) -> dict[str, Any] | None:
    node: dict[str, Any] | None = SCHEMA
    for part in path.split("."):
        node = (node or {}).get("properties", {}).get(part)
    return node


def test_every_default_value_is_described_by_the_schema() -> None:
    undescribed = [path for path in leaf_paths(DEFAULTS, SCHEMA) if schema_node(path) is None]
    assert undescribed == []


# `global` holds a parent chart's values for every subchart (Helm passes them all down): it
# must accept keys of other charts; the one it reads (imageRegistry) is still typed.
OPEN_BY_DESIGN = {"global"}


def test_schema_objects_refuse_unknown_keys() -> None:
    open_objects = []

    def visit(node: dict[str, Any], path: str) -> None:
        if path in OPEN_BY_DESIGN:
            return
        if "properties" in node and node.get("additionalProperties") is not False:
            open_objects.append(path or "(top level)")
        for key, child in node.get("properties", {}).items():
            visit(child, f"{path}.{key}" if path else key)

    visit(SCHEMA, "")
    assert open_objects == []


def test_the_defaults_and_the_ci_values_pass_the_schema() -> None:
    with Chart.load(CHART_DIR) as chart:
        chart.validate_schema(DEFAULTS)
        for path in sorted((CHART_DIR / "ci").glob("*-values.yaml")):
            chart.validate_schema(load_values(path))


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"replicaCount": 2}, "replicaCount"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"service": {"port": "10142"}}, "/service/port"),
        ({"service": {"port": 70000}}, "/service/port"),
        ({"persistence": {"enabled": "yes"}}, "/persistence/enabled"),
        ({"persistence": {"size": "a lot"}}, "/persistence/size"),
        ({"azure": {"workloadIdentity": {"clientId": "my-identity"}}}, "/azure/workloadIdentity"),
        ({"azure": {"servicePrincipal": {"secret": "x"}}}, "secret"),
        ({"config": {"log": {"level": "loud"}}}, "/config/log/level"),
        ({"config": {"metrics": {"max_series": 0}}}, "/config/metrics/max_series"),
        ({"config": {"metrics": {"extra_labels": ["call_id"]}}}, "/config/metrics/extra_labels"),
        ({"config": {"sources": [{"type": "kafka"}]}}, "/config/sources/0/type"),
        ({"config": {"sources": [{"name": "no-type"}]}}, "/config/sources/0"),
        ({"config": {"statee": {}}}, "statee"),
        (
            {"config": {"sources": [{"type": "log_analytics", "workspace_id": "w"}]}},
            "'workspace_id' not allowed",
        ),
        ({"config": {"otlp": {"interval": "15 seconds"}}}, "/config/otlp/interval"),
        ({"serviceMonitor": {"interval": "every minute"}}, "/serviceMonitor/interval"),
        ({"dashboards": {"label": ""}}, "/dashboards/label"),
        ({"prometheusRule": {"additionalRuleLabels": {"tier": 1}}}, "additionalRuleLabels"),
    ],
)
def test_invalid_values_are_rejected_naming_the_key(values: dict[str, Any], named: str) -> None:
    with Chart.load(CHART_DIR) as chart, pytest.raises(HelmValuesError) as error:
        chart.validate_schema(values)
    assert named in str(error.value)


def test_chart_readme_documents_every_value() -> None:
    readme = (CHART_DIR / "README.md").read_text()
    documented = set(re.findall(r"^\| `([^`]+)` \|", readme, flags=re.MULTILINE))
    missing = [path for path in leaf_paths(DEFAULTS, SCHEMA) if path not in documented]
    # A documented object (e.g. `config`) covers its sub-keys; a group (e.g. `image`) is
    # covered by its documented sub-keys.
    missing = [
        path
        for path in missing
        if not any(path.startswith(f"{parent}.") for parent in documented)
        and not any(key.startswith(f"{path}.") for key in documented)
    ]
    assert missing == []


def source_models() -> dict[str, type[BaseModel]]:
    """Every built-in source type's settings model, from the registry (its one definition)."""
    from acs_exporter.sources.registry import source_types

    return {entry.name: entry.settings for entry in source_types()}


def test_source_entries_accept_exactly_the_settings_fields() -> None:
    item = SCHEMA["properties"]["config"]["properties"]["sources"]["items"]
    models = source_models()
    assert item["properties"]["type"]["enum"] == list(models)
    per_type = {
        branch["if"]["properties"]["type"]["const"]: set(branch["then"]["properties"])
        for branch in item["allOf"]
    }
    assert per_type == {name: set(model.model_fields) for name, model in models.items()}


def test_config_sections_match_the_exporter_settings() -> None:
    from acs_exporter import config

    schema = SCHEMA["properties"]["config"]["properties"]
    sections = {
        name: field.annotation
        for name, field in config.Settings.model_fields.items()
        if name != "sources"
    }
    assert set(schema) == {*sections, "sources"}
    for name, model in sections.items():
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        assert set(schema[name]["properties"]) == set(model.model_fields), f"config.{name}"
    levels = get_args(config.LogSettings.model_fields["level"].annotation)
    assert schema["log"]["properties"]["level"]["enum"] == list(levels)
