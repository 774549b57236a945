"""Optional objects: off by default, and right when switched on."""

from __future__ import annotations

from pathlib import Path

import pytest
from helm_support import FULLNAME, NAMESPACE, chart_with_content, render

OPTIONAL_KINDS = ("NetworkPolicy", "ServiceMonitor", "PrometheusRule")


@pytest.fixture(scope="module")
def content_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chart_with_content(tmp_path_factory.mktemp("chart"))


def test_every_toggle_is_off_by_default(content_chart: Path) -> None:
    rendered = render({}, content_chart)
    for kind in OPTIONAL_KINDS:
        assert kind not in rendered.kinds()
    assert [doc["metadata"]["name"] for doc in rendered.all("ConfigMap")] == [FULLNAME]


def test_service_monitor_selects_the_service_port() -> None:
    rendered = render(
        {
            "serviceMonitor": {
                "enabled": True,
                "labels": {"release": "kube-prometheus-stack"},
                "interval": "30s",
                "scrapeTimeout": "10s",
                "metricRelabelings": [{"action": "labeldrop", "regex": "endpoint_type"}],
            }
        }
    )
    monitor = rendered.one("ServiceMonitor")
    service = rendered.one("Service")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"] == "http-metrics"
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "30s"
    assert endpoint["scrapeTimeout"] == "10s"
    assert endpoint["metricRelabelings"] == [{"action": "labeldrop", "regex": "endpoint_type"}]


def test_service_monitor_in_another_namespace_still_targets_the_release_namespace() -> None:
    monitor = render({"serviceMonitor": {"enabled": True, "namespace": "monitoring"}}).one(
        "ServiceMonitor"
    )
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}


def test_network_policy_allows_dns_and_https_egress_only() -> None:
    policy = render({"networkPolicy": {"enabled": True}}).one("NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "rel"
    egress_ports = sorted(
        (port["port"], port["protocol"]) for rule in policy["egress"] for port in rule["ports"]
    )
    assert egress_ports == [(53, "TCP"), (53, "UDP"), (443, "TCP")]
    assert all("to" not in rule for rule in policy["egress"])
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "http-metrics", "protocol": "TCP"}]
    assert "from" not in ingress


def test_network_policy_ingress_sources_and_extra_egress() -> None:
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    extra = {"ports": [{"port": 4318, "protocol": "TCP"}]}
    policy = render(
        {"networkPolicy": {"enabled": True, "ingressFrom": [peer], "extraEgress": [extra]}}
    ).one("NetworkPolicy")["spec"]
    assert policy["ingress"][0]["from"] == [peer]
    assert policy["egress"][-1] == extra


def test_prometheus_rule_toggle(content_chart: Path) -> None:
    rule = render({"prometheusRule": {"enabled": True}}, content_chart).one("PrometheusRule")
    assert rule["metadata"]["name"] == FULLNAME
    assert rule["spec"]["groups"]


def test_dashboards_toggle(content_chart: Path) -> None:
    rendered = render({"dashboards": {"enabled": True}}, content_chart)
    dashboards = [doc for doc in rendered.all("ConfigMap") if doc["metadata"]["name"] != FULLNAME]
    assert dashboards
    for config_map in dashboards:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["annotations"] == {
            "grafana_folder": "Azure Communication Services"
        }
