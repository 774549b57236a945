"""The ServiceMonitor takes every scrape setting a Prometheus Operator user tunes (scheme, basic
auth, TLS, honorLabels, sampleLimit, relabelings) without forking the chart, so the exporter's
own TLS and basic auth can be scraped; each lands where the operator reads it, and the schema
refuses a misspelt or mistyped one instead of letting the operator drop it silently."""

from __future__ import annotations

from typing import Any

import pytest
from helm_python.chart import Chart
from helm_python.errors import HelmRenderError, HelmValuesError
from helm_support import CHART_DIR, render
from test_chart_render import assert_installs_cleanly

SCRAPE_SECRET = {"name": "acs-exporter-scrape", "key": "password"}
SCRAPE_USER = {"name": "acs-exporter-scrape", "key": "username"}
TLS_CONFIG = {
    "ca": {"secret": {"name": "acs-exporter-tls", "key": "ca.crt"}},
    "cert": {"configMap": {"name": "scrape-client", "key": "tls.crt"}},
    "keySecret": {"name": "scrape-client", "key": "tls.key"},
    "serverName": "rel-acs-exporter.mon.svc",
    "minVersion": "TLS12",
}
KEEP_READY = {
    "sourceLabels": ["__meta_kubernetes_endpoint_ready"],
    "regex": "true",
    "action": "keep",
}
DROP_GO = {"sourceLabels": ["__name__"], "regex": "go_.*", "action": "drop"}
EVERYTHING = {
    "web": {"tls": {"enabled": True, "existingSecret": "acs-exporter-tls"}},
    "serviceMonitor": {
        "enabled": True,
        "interval": "30s",
        "scrapeTimeout": "10s",
        "scheme": "https",
        "basicAuth": {"username": SCRAPE_USER, "password": SCRAPE_SECRET},
        "tlsConfig": TLS_CONFIG,
        "honorLabels": True,
        "sampleLimit": 1_000_000,
        "relabelings": [KEEP_READY],
        "metricRelabelings": [DROP_GO],
    },
}


def monitor(values: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = render(values).one("ServiceMonitor")
    return found


def test_every_scrape_setting_lands_where_the_operator_reads_it() -> None:
    spec = monitor(EVERYTHING)["spec"]
    (endpoint,) = spec["endpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["basicAuth"] == {"username": SCRAPE_USER, "password": SCRAPE_SECRET}
    assert endpoint["tlsConfig"] == TLS_CONFIG
    assert endpoint["honorLabels"] is True
    assert endpoint["relabelings"] == [KEEP_READY]
    assert endpoint["metricRelabelings"] == [DROP_GO]
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("30s", "10s")
    # sampleLimit belongs to the ServiceMonitor spec, not the endpoint; a large one stays an
    # integer (Helm reads numbers as floats: 1e+06 would be refused by the API server).
    assert spec["sampleLimit"] == 1_000_000
    assert "sampleLimit" not in endpoint


def test_the_full_service_monitor_is_a_valid_custom_resource_and_lints_clean() -> None:
    assert_installs_cleanly(EVERYTHING)


def test_defaults_leave_prometheus_defaults_alone() -> None:
    spec = monitor({"serviceMonitor": {"enabled": True}})["spec"]
    (endpoint,) = spec["endpoints"]
    assert "sampleLimit" not in spec
    for key in ("honorLabels", "basicAuth", "tlsConfig", "relabelings", "metricRelabelings"):
        assert key not in endpoint, key


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"honorLabels": "yes"}, "/serviceMonitor/honorLabels"),
        ({"sampleLimit": -1}, "/serviceMonitor/sampleLimit"),
        ({"sampleLimit": 1.5}, "/serviceMonitor/sampleLimit"),
        ({"sampleLimit": "1000"}, "/serviceMonitor/sampleLimit"),
        ({"basicAuth": {"username": SCRAPE_USER}}, "/serviceMonitor/basicAuth"),
        ({"basicAuth": {"user": SCRAPE_USER, "password": SCRAPE_SECRET}}, "user"),
        ({"basicAuth": {"username": "prometheus", "password": "s3cret"}}, "/basicAuth/username"),
        ({"basicAuth": {"username": {"name": "x"}, "password": SCRAPE_SECRET}}, "key"),
        ({"tlsConfig": {"insecureSkipVerify": "true"}}, "/tlsConfig/insecureSkipVerify"),
        ({"tlsConfig": {"insecure_skip_verify": True}}, "insecure_skip_verify"),
        ({"tlsConfig": {"ca": {"secret": SCRAPE_SECRET, "configMap": SCRAPE_SECRET}}}, "/ca"),
        ({"tlsConfig": {"minVersion": "1.2"}}, "/tlsConfig/minVersion"),
        ({"relabelings": [{"source_labels": ["x"], "action": "keep"}]}, "source_labels"),
        ({"relabelings": [{"action": "keepp"}]}, "/relabelings/0/action"),
        ({"metricRelabelings": [{"sourceLabels": "__name__"}]}, "/metricRelabelings/0"),
        ({"metricRelabelings": ["drop go_.*"]}, "/metricRelabelings/0"),
        ({"scheme": "HTTPS"}, "/serviceMonitor/scheme"),
    ],
)
def test_the_schema_refuses_a_wrong_scrape_setting(setting: dict[str, Any], named: str) -> None:
    with Chart.load(CHART_DIR) as chart, pytest.raises(HelmValuesError) as error:
        chart.validate_schema({"serviceMonitor": {"enabled": True, **setting}})
    assert named in str(error.value)


def test_the_schema_takes_every_documented_form() -> None:
    with Chart.load(CHART_DIR) as chart:
        chart.validate_schema(EVERYTHING)
        chart.validate_schema({"serviceMonitor": {"basicAuth": {}, "tlsConfig": {}}})
        relabel = {"action": "LabelDrop", "regex": "endpoint_type"}
        chart.validate_schema({"serviceMonitor": {"metricRelabelings": [relabel]}})


GUARDED = {
    "web": {
        "tls": {"enabled": True, "existingSecret": "acs-exporter-tls"},
        "basicAuth": {"users": {"prometheus": "$2b$04$" + "x" * 53}},
    },
    "serviceMonitor": {"enabled": True},
}


def test_the_notes_warn_when_the_scrape_lacks_what_the_exporter_requires() -> None:
    """/metrics behind basic auth or TLS, scraped without credentials or a CA: every scrape
    would fail (401, unknown authority) with the target merely red, so the notes say which
    serviceMonitor key to set."""
    notes = " ".join(render(GUARDED).notes.split())
    assert "web.basicAuth.users guards /metrics but serviceMonitor.basicAuth is empty" in notes
    assert "serviceMonitor.tlsConfig is empty" in notes
    complete = {**GUARDED, "serviceMonitor": EVERYTHING["serviceMonitor"]}
    notes = " ".join(render(complete).notes.split())
    assert "serviceMonitor.basicAuth is empty" not in notes
    assert "serviceMonitor.tlsConfig is empty" not in notes


def test_the_notes_warn_about_plain_http_to_an_https_port() -> None:
    values = {**GUARDED, "serviceMonitor": {**EVERYTHING["serviceMonitor"], "scheme": "http"}}
    notes = " ".join(render(values).notes.split())
    assert "serviceMonitor.scheme is http but web.tls.enabled serves HTTPS" in notes


@pytest.mark.parametrize(
    ("interval", "timeout"),
    [("30s", "1m"), ("1m", "1m0s500ms"), ("1m30s", "2m"), ("500ms", "1s")],
)
def test_a_scrape_timeout_above_the_interval_is_refused(interval: str, timeout: str) -> None:
    """Prometheus refuses such a scrape config (the operator then skips the ServiceMonitor, and
    the exporter silently goes unscraped): refused at install, naming both keys."""
    values = {"serviceMonitor": {"enabled": True, "interval": interval, "scrapeTimeout": timeout}}
    with pytest.raises(HelmRenderError, match=r"serviceMonitor\.scrapeTimeout.*interval"):
        render(values)


@pytest.mark.parametrize(("interval", "timeout"), [("1m", "1m"), ("1m", "59s"), ("1h", "2m")])
def test_a_scrape_timeout_within_the_interval_is_kept(interval: str, timeout: str) -> None:
    values = {"serviceMonitor": {"enabled": True, "interval": interval, "scrapeTimeout": timeout}}
    assert monitor(values)["spec"]["endpoints"][0]["scrapeTimeout"] == timeout


def test_a_sample_limit_the_exporter_would_exceed_is_refused() -> None:
    """Below config.metrics.max_series the scrape fails whole once the series fill up: every
    metric is lost, not only the excess."""
    with pytest.raises(HelmRenderError, match=r"serviceMonitor\.sampleLimit \(2000\).*max_series"):
        render({"serviceMonitor": {"enabled": True, "sampleLimit": 2000}})
    fits = {
        "config": {"metrics": {"max_series": 500}},
        "serviceMonitor": {"enabled": True, "sampleLimit": 2000},
    }
    assert monitor(fits)["spec"]["sampleLimit"] == 2000


@pytest.mark.parametrize(
    ("config_web", "path"), [({}, "/metrics"), ({"telemetry_path": "/m"}, "/m")]
)
def test_the_scrape_path_follows_the_exporters_telemetry_path(
    config_web: dict[str, Any], path: str
) -> None:
    """web.telemetry_path moves /metrics (docs/configuration.md); the ServiceMonitor must
    scrape where the exporter serves, or Prometheus sees a 404 and no metrics."""
    rendered = render({"serviceMonitor": {"enabled": True}, "config": {"web": config_web}})
    (endpoint,) = rendered.one("ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["path"] == path
