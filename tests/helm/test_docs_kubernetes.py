"""docs/kubernetes.md: the values it tells users to install with render, validate and wire up
what the guide's later steps rely on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helm_python.chart import Chart
from helm_support import chart_with_content

from conftest import REPO

GUIDE = REPO / "docs" / "kubernetes.md"
RELEASE = "acs-exporter"  # the guide's $RELEASE
NAMESPACE = "monitoring"  # the guide's $NAMESPACE


def guide_values() -> dict[str, Any]:
    text = GUIDE.read_text()
    match = re.search(r"`values-acs\.yaml`:\n\n```yaml\n(.*?)```", text, flags=re.DOTALL)
    assert match, "docs/kubernetes.md has no values-acs.yaml block"
    values: dict[str, Any] = yaml.safe_load(match.group(1))
    return values


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    chart = chart_with_content(tmp_path_factory.mktemp("chart"))
    with Chart.load(chart) as loaded:
        loaded.validate_schema(guide_values())
        rendered = loaded.render(guide_values(), name=RELEASE, namespace=NAMESPACE)
    return [
        doc
        for path, text in rendered.items()
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def one(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in manifests if doc["kind"] == kind]
    return found


def test_guide_values_render_valid_manifests(manifests: list[dict[str, Any]]) -> None:
    kinds = sorted(doc["kind"] for doc in manifests)
    for kind in ("Deployment", "NetworkPolicy", "PrometheusRule", "ServiceMonitor"):
        assert kind in kinds
    for doc in manifests:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_service_account_matches_the_federated_credential_subject(
    manifests: list[dict[str, Any]],
) -> None:
    # The guide's federated credential: system:serviceaccount:${NAMESPACE}:${RELEASE}
    assert '--subject "system:serviceaccount:${NAMESPACE}:${RELEASE}"' in GUIDE.read_text()
    account = one(manifests, "ServiceAccount")["metadata"]
    assert (account["namespace"], account["name"]) == (NAMESPACE, RELEASE)
    pod = one(manifests, "Deployment")["spec"]["template"]
    assert pod["spec"]["serviceAccountName"] == RELEASE
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"


def test_the_job_label_is_the_one_the_guide_queries(manifests: list[dict[str, Any]]) -> None:
    # Prometheus takes `job` from the Service label the ServiceMonitor names in jobLabel.
    monitor = one(manifests, "ServiceMonitor")
    service = one(manifests, "Service")
    job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    assert job == "acs-exporter"
    assert f'up{{job="{job}"}}' in GUIDE.read_text()


def test_the_guide_checks_what_the_chart_serves() -> None:
    text = GUIDE.read_text()
    values = yaml.safe_load((REPO / "deploy" / "helm" / "acs-exporter" / "values.yaml").read_text())
    assert values["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert values["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "curl -s http://127.0.0.1:10142/readyz" in text
    assert 'port-forward service/"$RELEASE" 10142:10142' in text
    assert Path(REPO / "deploy" / "helm" / "acs-exporter" / "README.md").is_file()


def guide_yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)


def test_every_values_block_of_the_guide_installs(tmp_path: Path) -> None:
    """The optional blocks (egress, OTLP credentials, TLS) pass the schema and render valid
    manifests, together with the main values as a user would combine them."""
    blocks = guide_yaml_blocks()
    assert len(blocks) >= 4, "the guide lost its values blocks"
    chart = chart_with_content(tmp_path)
    with Chart.load(chart) as loaded:
        for block in blocks:
            values = yaml.safe_load(block)
            loaded.validate_schema(values)
            combined = {**guide_values(), **values}
            rendered = loaded.render(combined, name=RELEASE, namespace=NAMESPACE)
            for path, text in rendered.items():
                if path.endswith("NOTES.txt"):
                    continue
                for doc in yaml.safe_load_all(text):
                    if doc and not doc["apiVersion"].startswith("monitoring.coreos.com/"):
                        kubernetes_validate.validate(
                            doc, kubernetes_validate.latest_version(), strict=True
                        )
