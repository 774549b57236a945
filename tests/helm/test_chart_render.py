"""Lint (strict) and render the chart for the defaults and every ci/*-values.yaml; validate
every manifest: built-in kinds with kubernetes-validate --strict; the Prometheus Operator
custom resources (which kubernetes-validate skips) against the fields and formats of the
operator's monitoring.coreos.com/v1 API, their rules with promtool (test_chart_content.py)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from helm_python.chart import lint
from helm_support import CHART_DIR, CI_VALUES, chart_with_content, iter_ci_values, render

from conftest import REPO, require_path, require_tool

CASES = list(iter_ci_values())
CASE_IDS = [name for name, _ in CASES]

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest known.
KUBE_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())

# monitoring.coreos.com/v1 fields (prometheus-operator API reference), as far as this chart
# can produce them: a misspelt key would be silently dropped by the operator.
OBJECT_META = {"name", "namespace", "labels", "annotations"}
KEY_SELECTOR = {"name", "key", "optional"}
RELABEL_CONFIG = {"sourceLabels", "separator", "targetLabel", "regex", "modulus", "replacement"}
RELABEL_CONFIG |= {"action"}
CUSTOM_RESOURCE_FIELDS: dict[str, dict[str, set[str]]] = {
    "ServiceMonitor": {
        "": {"apiVersion", "kind", "metadata", "spec"},
        ".metadata": OBJECT_META,
        ".spec": {"jobLabel", "sampleLimit", "namespaceSelector", "selector", "endpoints"},
        ".spec.namespaceSelector": {"any", "matchNames"},
        ".spec.selector": {"matchLabels", "matchExpressions"},
        ".spec.endpoints[]": {
            "port",
            "path",
            "scheme",
            "interval",
            "scrapeTimeout",
            "tlsConfig",
            "basicAuth",
            "relabelings",
            "metricRelabelings",
            "honorLabels",
        },
        ".spec.endpoints[].basicAuth": {"username", "password"},
        ".spec.endpoints[].basicAuth.username": KEY_SELECTOR,
        ".spec.endpoints[].basicAuth.password": KEY_SELECTOR,
        ".spec.endpoints[].tlsConfig": {
            "ca",
            "cert",
            "keySecret",
            "caFile",
            "certFile",
            "keyFile",
            "serverName",
            "insecureSkipVerify",
            "minVersion",
            "maxVersion",
        },
        ".spec.endpoints[].tlsConfig.ca": {"secret", "configMap"},
        ".spec.endpoints[].tlsConfig.cert": {"secret", "configMap"},
        ".spec.endpoints[].tlsConfig.ca.secret": KEY_SELECTOR,
        ".spec.endpoints[].tlsConfig.ca.configMap": KEY_SELECTOR,
        ".spec.endpoints[].tlsConfig.cert.secret": KEY_SELECTOR,
        ".spec.endpoints[].tlsConfig.cert.configMap": KEY_SELECTOR,
        ".spec.endpoints[].tlsConfig.keySecret": KEY_SELECTOR,
        ".spec.endpoints[].relabelings[]": RELABEL_CONFIG,
        ".spec.endpoints[].metricRelabelings[]": RELABEL_CONFIG,
    },
    "PrometheusRule": {
        "": {"apiVersion", "kind", "metadata", "spec"},
        ".metadata": OBJECT_META,
        ".spec": {"groups"},
        ".spec.groups[]": {"name", "interval", "rules", "limit", "partial_response_strategy"},
        ".spec.groups[].rules[]": {
            "alert",
            "record",
            "expr",
            "for",
            "keep_firing_for",
            "labels",
            "annotations",
        },
    },
}
# The operator's Duration pattern.
DURATION = re.compile(
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)


# The operator's own schemas (types, enums, patterns, required fields) of its custom resources,
# compiled from its CRDs by kubernetes-models; installed by `make test` (npm ci).
OPERATOR_CRDS = REPO / "tools" / "operator-crds"
OPERATOR_MODELS = OPERATOR_CRDS / "node_modules" / "@kubernetes-models" / "prometheus-operator"


def operator_schema_problems(docs: list[dict[str, Any]]) -> list[str]:
    """What the operator's CRD schemas refuse in these custom resources (one node run)."""
    if not docs:
        return []
    require_path(OPERATOR_MODELS, "@kubernetes-models/prometheus-operator (run `make test`)")
    node = require_tool("node")
    result = subprocess.run(
        [node, str(OPERATOR_CRDS / "validate.mjs")],
        input=json.dumps(docs),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    problems: list[str] = json.loads(result.stdout)
    return problems


@pytest.fixture(scope="module")
def content_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chart_with_content(tmp_path_factory.mktemp("chart"))


def test_there_are_ci_values_for_the_main_combinations() -> None:
    names = {path.name for path in CI_VALUES}
    assert {
        "default-values.yaml",
        "workload-identity-values.yaml",
        "service-principal-values.yaml",
        "no-persistence-values.yaml",
    } <= names


@pytest.mark.parametrize(("name", "values"), CASES, ids=CASE_IDS)
def test_lint_strict_is_clean(name: str, values: dict[str, Any], content_chart: Path) -> None:
    report = lint(content_chart, values, strict=True, namespace="mon")
    assert report["errors"] == [], report
    # Severity 1 is informational (e.g. "icon is recommended"); warnings and errors fail.
    problems = [message for message in report["messages"] if message["severity"] >= 2]
    assert problems == [], f"{name}: {problems}"


@pytest.mark.parametrize(("name", "values"), CASES, ids=CASE_IDS)
def test_every_manifest_validates_strictly(
    name: str, values: dict[str, Any], content_chart: Path
) -> None:
    rendered = render(values, content_chart)
    assert rendered.docs, f"{name}: nothing rendered"
    custom = [doc for doc in rendered.docs if doc["kind"] in CUSTOM_RESOURCE_FIELDS]
    assert operator_schema_problems(custom) == [], name
    for doc in rendered.docs:
        where = f"{name}: {doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in CUSTOM_RESOURCE_FIELDS:
            assert_custom_resource_valid(doc, where)
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{where} invalid for Kubernetes {version}: {error.message}")


def assert_custom_resource_valid(doc: dict[str, Any], where: str) -> None:
    fields = CUSTOM_RESOURCE_FIELDS[doc["kind"]]
    assert doc["apiVersion"] == "monitoring.coreos.com/v1", where
    problems: list[str] = []
    for path, node in walk(doc):
        allowed = fields.get(path)
        if allowed is not None and isinstance(node, dict):
            problems.extend(f"{path}.{key}: unknown field" for key in sorted(set(node) - allowed))
        if path.endswith((".interval", ".scrapeTimeout", ".for")) and not DURATION.match(str(node)):
            problems.append(f"{path}: {node!r} is not a duration")
    assert problems == [], f"{where}: {problems}"


def assert_installs_cleanly(values: dict[str, Any], chart_dir: Path = CHART_DIR) -> None:
    """Every manifest valid (built-in kinds strictly, for the oldest and newest Kubernetes; the
    operator's kinds field by field) and `helm lint --strict` clean, for these values."""
    where = f"values {sorted(values)}"
    docs = render(values, chart_dir).docs
    custom = [doc for doc in docs if doc["kind"] in CUSTOM_RESOURCE_FIELDS]
    assert operator_schema_problems(custom) == [], where
    for doc in docs:
        if doc["kind"] in CUSTOM_RESOURCE_FIELDS:
            assert_custom_resource_valid(doc, f"{where}: {doc['kind']}")
            continue
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
    report = lint(chart_dir, values, strict=True, namespace="mon")
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], where


def walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """(path, node) pairs; list items share the path `parent[]`."""
    found = [(path, node)]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(walk(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for item in node:
            found.extend(walk(item, f"{path}[]"))
    return found


def test_custom_resource_check_catches_a_misspelt_field() -> None:
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "x"},
        "spec": {"selector": {}, "endpoints": [{"port": "http-metrics", "intervall": "30s"}]},
    }
    with pytest.raises(AssertionError, match=r"\.spec\.endpoints\[\]\.intervall"):
        assert_custom_resource_valid(monitor, "ServiceMonitor/x")


def test_operator_schema_check_catches_wrong_types_and_unknown_kinds() -> None:
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {},
            "sampleLimit": "1e+06",  # what a float printed as is gave
            "endpoints": [{"port": "http-metrics", "honorLabels": "true"}],
        },
    }
    (problem,) = operator_schema_problems([monitor])
    assert "spec/sampleLimit must be integer" in problem
    assert "endpoints/0/honorLabels must be boolean" in problem
    unknown = {**monitor, "apiVersion": "monitoring.coreos.com/v1alpha1"}
    assert "not a known operator kind" in operator_schema_problems([unknown])[0]


def test_chart_directory_is_the_one_documented() -> None:
    assert (CHART_DIR / "Chart.yaml").is_file()
    assert (CHART_DIR / "values.schema.json").is_file()
    assert (CHART_DIR / "templates" / "NOTES.txt").is_file()
    assert (CHART_DIR / "README.md").is_file()
