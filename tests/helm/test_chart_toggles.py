"""Optional objects: off by default, and right when switched on."""

from __future__ import annotations

from pathlib import Path

import pytest
from helm_python.chart import Chart
from helm_python.errors import HelmRenderError, HelmValuesError
from helm_support import CHART_DIR, FULLNAME, NAMESPACE, chart_with_content, render

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


# --- PodDisruptionBudget ---------------------------------------------------------------------


def test_pod_disruption_budget_is_off_by_default_and_selects_the_pod_when_on() -> None:
    assert "PodDisruptionBudget" not in render().kinds()
    rendered = render({"podDisruptionBudget": {"enabled": True}})
    budget = rendered.one("PodDisruptionBudget")
    assert budget["apiVersion"] == "policy/v1"
    assert budget["metadata"]["name"] == FULLNAME
    deployment = rendered.one("Deployment")["spec"]
    assert budget["spec"]["selector"] == deployment["selector"]
    assert deployment["selector"]["matchLabels"].items() <= (
        deployment["template"]["metadata"]["labels"].items()
    )
    # One replica: the default lets a drain evict it (the pod restarts elsewhere).
    assert budget["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in budget["spec"]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"minAvailable": 1}, {"minAvailable": 1}),
        ({"maxUnavailable": "100%"}, {"maxUnavailable": "100%"}),
        ({"minAvailable": 0}, {"minAvailable": 0}),
    ],
)
def test_pod_disruption_budget_takes_one_bound(
    setting: dict[str, object], expected: dict[str, object]
) -> None:
    spec = render({"podDisruptionBudget": {"enabled": True, **setting}}).one("PodDisruptionBudget")[
        "spec"
    ]
    assert {key: spec[key] for key in ("minAvailable", "maxUnavailable") if key in spec} == expected


def test_pod_disruption_budget_refuses_both_bounds() -> None:
    with pytest.raises(HelmRenderError, match=r"podDisruptionBudget\.minAvailable.*maxUnavailable"):
        render({"podDisruptionBudget": {"enabled": True, "minAvailable": 1, "maxUnavailable": 1}})


# --- NetworkPolicy egress ----------------------------------------------------------------------

AZURE_CIDRS = ["20.190.128.0/18", "40.126.0.0/18"]


def egress(values: dict[str, object]) -> list[dict[str, object]]:
    rules: list[dict[str, object]] = render({"networkPolicy": {"enabled": True, **values}}).one(
        "NetworkPolicy"
    )["spec"]["egress"]
    return rules


def rule_for(rules: list[dict[str, object]], port: int) -> dict[str, object]:
    (found,) = [rule for rule in rules if {"port": port, "protocol": "TCP"} in rule["ports"]]  # type: ignore[operator]
    return found


def test_https_egress_can_be_narrowed_to_cidrs() -> None:
    rules = egress({"egress": {"https": {"cidrs": AZURE_CIDRS}}})
    https = rule_for(rules, 443)
    assert https["to"] == [{"ipBlock": {"cidr": cidr}} for cidr in AZURE_CIDRS]
    assert https["ports"] == [{"port": 443, "protocol": "TCP"}]


def test_https_egress_peers_and_dns_peers() -> None:
    proxy = {"podSelector": {"matchLabels": {"app": "egress-proxy"}}}
    kube_dns = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    rules = egress(
        {"egress": {"https": {"cidrs": ["10.0.0.0/8"], "to": [proxy]}, "dns": {"to": [kube_dns]}}}
    )
    assert rule_for(rules, 443)["to"] == [{"ipBlock": {"cidr": "10.0.0.0/8"}}, proxy]
    assert rule_for(rules, 53)["to"] == [kube_dns]


def test_a_bad_cidr_is_refused_by_the_schema() -> None:
    with Chart.load(CHART_DIR) as chart, pytest.raises(HelmValuesError) as error:
        chart.validate_schema({"networkPolicy": {"egress": {"https": {"cidrs": ["10.0.0.0"]}}}})
    assert "/networkPolicy/egress/https/cidrs/0" in str(error.value)


def test_the_policy_lets_otlp_pushes_out_on_the_endpoints_port() -> None:
    """Enabling both must not silently drop every push: the collector's port is allowed."""
    collector = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "obs"}}}
    rules = render(
        {
            "config": {"otlp": {"enabled": True, "endpoint": "http://otel.obs:4318/v1/metrics"}},
            "networkPolicy": {"enabled": True, "egress": {"otlp": {"to": [collector]}}},
        }
    ).one("NetworkPolicy")["spec"]["egress"]
    assert rule_for(rules, 4318)["to"] == [collector]
    https_default = render(
        {
            "config": {
                "otlp": {"enabled": True, "endpoint": "https://otlp.example.com/v1/metrics"}
            },
            "networkPolicy": {"enabled": True, "egress": {"https": {"cidrs": AZURE_CIDRS}}},
        }
    ).one("NetworkPolicy")["spec"]["egress"]
    ports = [rule["ports"] for rule in https_default]
    assert ports.count([{"port": 443, "protocol": "TCP"}]) == 2  # Azure (narrowed) and OTLP
    assert "otlp" not in str(egress({}))
