"""What prometheus-community charts let a user add without forking, and this chart now does too:
global.imageRegistry, a startup probe, init containers, sidecars (extraContainers) and
extraObjects. Each renders where Kubernetes reads it, passes strict validation, and a wrong type
is refused by the schema naming the key."""

from __future__ import annotations

from typing import Any

import pytest
from helm_python.chart import Chart
from helm_python.errors import HelmValuesError
from helm_support import CHART_DIR, FULLNAME, NAMESPACE, RELEASE, render
from test_chart_render import assert_installs_cleanly
from test_chart_web import TLS

DIGEST = "sha256:" + "b" * 64
SIDECAR = {
    "name": "oauth-proxy",
    "image": "quay.io/oauth2-proxy/oauth2-proxy:v7.6.0",
    "args": ["--upstream=http://127.0.0.1:10142"],
    "volumeMounts": [{"name": "proxy-config", "mountPath": "/etc/proxy"}],
}
INIT = {
    "name": "fetch-overrides",
    "image": "busybox:1.36",
    "command": ["sh", "-c", "echo fetching for {{ .Release.Name }}"],
    "volumeMounts": [{"name": "proxy-config", "mountPath": "/etc/proxy"}],
}
EXTRA_VOLUME = {"name": "proxy-config", "emptyDir": {}}
SCRAPE_SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": '{{ include "acs-exporter.fullname" . }}-scrape'},
    "stringData": {"username": "prometheus", "password": "not-a-real-one"},
}
CERTIFICATE_TEXT = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-extra
  namespace: {{ .Release.Namespace }}
data:
  owner: team-voice
"""
EXTRAS = {
    "global": {"imageRegistry": "registry.example.com", "storageClass": "a-parent-chart's"},
    "startupProbe": {"httpGet": {"path": "/healthz", "port": "http-metrics"}, "periodSeconds": 2},
    "initContainers": [INIT],
    "extraContainers": [SIDECAR],
    "extraVolumes": [EXTRA_VOLUME],
    "extraObjects": [SCRAPE_SECRET, CERTIFICATE_TEXT],
}


def test_global_image_registry_wins_over_image_registry() -> None:
    assert render({"global": {"imageRegistry": "ghcr.io"}}).container["image"] == (
        "ghcr.io/acs-exporter/acs-exporter:0.1.0"
    )
    values = {
        "global": {"imageRegistry": "mirror.example.com/"},
        "image": {"registry": "registry.example.com", "repository": "team/acs", "digest": DIGEST},
    }
    assert render(values).container["image"] == f"mirror.example.com/team/acs@{DIGEST}"
    # Empty (the default) leaves image.registry in charge.
    local = {"global": {"imageRegistry": ""}, "image": {"registry": "registry.example.com"}}
    image = render(local).container["image"]
    assert image == "registry.example.com/acs-exporter/acs-exporter:0.1.0"


def test_startup_probe_is_off_by_default_and_follows_tls_when_set() -> None:
    assert "startupProbe" not in render().container
    probe = EXTRAS["startupProbe"]
    assert render({"startupProbe": probe}).container["startupProbe"] == probe
    https = render({**TLS, "startupProbe": probe}).container["startupProbe"]
    assert https["httpGet"]["scheme"] == "HTTPS"


def test_init_containers_and_sidecars_join_the_pod_around_the_exporter() -> None:
    rendered = render(EXTRAS)
    pod = rendered.pod_spec
    assert [container["name"] for container in pod["containers"]] == ["exporter", "oauth-proxy"]
    assert pod["containers"][1] == SIDECAR
    (init,) = pod["initContainers"]
    # Rendered with tpl: the release's own values can be used.
    assert init["command"][-1] == f"echo fetching for {RELEASE}"
    assert EXTRA_VOLUME in pod["volumes"]


def test_extra_objects_render_as_mappings_and_strings_through_tpl() -> None:
    rendered = render(EXTRAS)
    secret = rendered.one("Secret")
    assert secret["metadata"]["name"] == f"{FULLNAME}-scrape"
    extra = next(doc for doc in rendered.all("ConfigMap") if doc["metadata"]["name"] == "rel-extra")
    assert extra["metadata"]["namespace"] == NAMESPACE
    assert extra["data"] == {"owner": "team-voice"}
    assert "Secret" not in render().kinds()


def test_extras_validate_strictly_and_lint_clean() -> None:
    assert_installs_cleanly(EXTRAS)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"global": {"imageRegistry": 5}}, "/global/imageRegistry"),
        ({"global": {"imageRegistry": "https://ghcr.io"}}, "/global/imageRegistry"),
        ({"startupProbe": "httpGet /healthz"}, "/startupProbe"),
        ({"initContainers": {"name": "x"}}, "/initContainers"),
        ({"initContainers": [{"image": "busybox"}]}, "/initContainers/0"),
        ({"extraContainers": [{"image": "busybox"}]}, "/extraContainers/0"),
        ({"extraContainers": [{"name": "exporter", "image": "x"}]}, "/extraContainers/0/name"),
        ({"extraObjects": [{"metadata": {"name": "x"}}]}, "/extraObjects/0"),
        ({"extraObjects": [5]}, "/extraObjects/0"),
        ({"extraObjects": {"kind": "Secret"}}, "/extraObjects"),
    ],
)
def test_the_schema_refuses_wrong_extras(values: dict[str, Any], named: str) -> None:
    with Chart.load(CHART_DIR) as chart, pytest.raises(HelmValuesError) as error:
        chart.validate_schema(values)
    assert named in str(error.value)


def test_the_schema_takes_the_extras_and_a_parent_charts_globals() -> None:
    with Chart.load(CHART_DIR) as chart:
        chart.validate_schema(EXTRAS)


def test_large_integers_stay_integers() -> None:
    """Helm reads values' numbers as floats: printed as they are, a million becomes 1e+06, which
    the API server refuses. Every number the templates print (rather than toYaml) is an int."""
    rendered = render(
        {
            "terminationGracePeriodSeconds": 1_000_000,
            "serviceMonitor": {"enabled": True, "sampleLimit": 1_000_000},
        }
    )
    assert rendered.pod_spec["terminationGracePeriodSeconds"] == 1_000_000
    assert rendered.one("ServiceMonitor")["spec"]["sampleLimit"] == 1_000_000
