"""TLS and basic auth on /metrics: the chart writes the exporter-toolkit web config into a Secret
(basic auth hashes never reach a ConfigMap), mounts the certificate Secret, and switches the
probes, the ServiceMonitor and the notes to HTTPS by itself when it enables TLS. The web config
it renders is one the exporter accepts."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helm_python.chart import lint
from helm_python.errors import HelmRenderError
from helm_support import CHART_DIR, FULLNAME, Rendered, render
from test_chart_render import KUBE_VERSIONS, assert_custom_resource_valid
from test_chart_secrets import holders, secret_data

from acs_exporter.config import load_settings

# bcrypt of a throw-away password
HASH = "$2b$04$zB7TNsZDiVOcDYpwnJtN0O4U8hTA3T1Oz86uBYneaYniaot.NJ8O2"
TLS = {"web": {"tls": {"enabled": True, "existingSecret": "acs-exporter-tls"}}}
WEB_CONFIG_FILE = "/etc/acs-exporter-web/web-config.yml"


def probes(rendered: Rendered) -> list[dict[str, Any]]:
    return [rendered.container["livenessProbe"], rendered.container["readinessProbe"]]


FULL_WEB = {
    "web": {**TLS["web"], "basicAuth": {"users": {"prometheus": HASH}}},
    "serviceMonitor": {
        "enabled": True,
        "basicAuth": {
            "username": {"name": "scrape-auth", "key": "username"},
            "password": {"name": "scrape-auth", "key": "password"},
        },
        "tlsConfig": {"insecureSkipVerify": True},
    },
    "readinessProbe": {"tcpSocket": {"port": "http-metrics"}},
}


def test_tls_and_basic_auth_manifests_validate_strictly_and_lint_clean() -> None:
    rendered = render(FULL_WEB)
    for doc in rendered.docs:
        if doc["kind"] == "ServiceMonitor":
            assert_custom_resource_valid(doc, "ServiceMonitor")
            continue
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
    report = lint(CHART_DIR, FULL_WEB, strict=True, namespace="mon")
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_probes_and_service_monitor_stay_http_without_tls() -> None:
    rendered = render({"serviceMonitor": {"enabled": True}})
    assert all("scheme" not in probe["httpGet"] for probe in probes(rendered))
    assert rendered.one("ServiceMonitor")["spec"]["endpoints"][0]["scheme"] == "http"
    assert "web" not in {volume["name"] for volume in rendered.pod_spec["volumes"]}
    assert rendered.config()["web"].get("config_file") is None


def test_tls_switches_probes_service_monitor_and_notes_to_https() -> None:
    rendered = render({**TLS, "serviceMonitor": {"enabled": True}})
    for probe in probes(rendered):
        assert probe["httpGet"]["scheme"] == "HTTPS"
    assert rendered.one("ServiceMonitor")["spec"]["endpoints"][0]["scheme"] == "https"
    assert "curl -sk https://127.0.0.1" in rendered.notes
    assert "curl -s http://" not in rendered.notes


def test_tls_mounts_the_certificate_and_points_the_exporter_at_the_web_config() -> None:
    rendered = render(TLS)
    assert rendered.config()["web"]["config_file"] == WEB_CONFIG_FILE
    volumes = {volume["name"]: volume for volume in rendered.pod_spec["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "acs-exporter-tls"
    assert volumes["web"]["secret"]["secretName"] == f"{FULLNAME}-web-config"
    mounts = {mount["name"]: mount for mount in rendered.container["volumeMounts"]}
    assert mounts["tls"] == {"name": "tls", "mountPath": "/etc/acs-exporter-tls", "readOnly": True}
    assert mounts["web"] == {"name": "web", "mountPath": "/etc/acs-exporter-web", "readOnly": True}
    web_config = yaml.safe_load(secret_data(rendered.one("Secret"))["web-config.yml"])
    assert web_config == {
        "tls_server_config": {
            "cert_file": "/etc/acs-exporter-tls/tls.crt",
            "key_file": "/etc/acs-exporter-tls/tls.key",
        }
    }


def test_an_explicit_probe_scheme_is_kept() -> None:
    probe = {"httpGet": {"path": "/healthz", "port": "http-metrics", "scheme": "HTTP"}}
    rendered = render({**TLS, "livenessProbe": probe})
    assert rendered.container["livenessProbe"]["httpGet"]["scheme"] == "HTTP"
    # Helm merges the user's tcpSocket into the default httpGet probe: one handler must remain.
    tcp = render({**TLS, "readinessProbe": {"tcpSocket": {"port": "http-metrics"}}})
    assert "httpGet" not in tcp.container["readinessProbe"]
    assert tcp.container["readinessProbe"]["tcpSocket"] == {"port": "http-metrics"}


def test_basic_auth_hashes_are_only_in_the_web_config_secret() -> None:
    rendered = render({"web": {"basicAuth": {"users": {"prometheus": HASH}}}})
    assert holders(rendered, HASH) == [f"Secret/{FULLNAME}-web-config"]
    web_config = yaml.safe_load(secret_data(rendered.one("Secret"))["web-config.yml"])
    assert web_config == {"basic_auth_users": {"prometheus": HASH}}
    # Basic auth leaves /healthz and /readyz open: the probes stay plain HTTP.
    assert all("scheme" not in probe["httpGet"] for probe in probes(rendered))


def test_an_existing_web_config_secret_is_mounted_and_none_made() -> None:
    rendered = render({"web": {"existingSecret": "my-web-config", "tls": {"enabled": True}}})
    assert "Secret" not in rendered.kinds()
    volumes = {volume["name"]: volume for volume in rendered.pod_spec["volumes"]}
    assert volumes["web"]["secret"]["secretName"] == "my-web-config"
    assert "tls" not in volumes
    assert rendered.config()["web"]["config_file"] == WEB_CONFIG_FILE
    assert rendered.container["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"web": {"tls": {"enabled": True}}}, r"web\.tls\.existingSecret"),
        ({**TLS, "config": {"web": {"config_file": "/x.yml"}}}, r"config\.web\.config_file"),
        (
            {"web": {"existingSecret": "a", "basicAuth": {"users": {"p": HASH}}}},
            r"web\.existingSecret.*web\.basicAuth\.users",
        ),
    ],
)
def test_contradictory_web_settings_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmRenderError, match=message):
        render(values)


def self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acs-exporter")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_the_exporter_accepts_the_rendered_web_config(tmp_path: Path) -> None:
    """The pod's files, relocated under tmp_path: config.yaml, web-config.yml, tls.crt/key."""
    pytest.importorskip("cryptography")
    from acs_exporter.server.webconfig import load_web_config

    rendered = render({**TLS, "web": {**TLS["web"], "basicAuth": {"users": {"prom": HASH}}}})
    tls_dir = tmp_path / "etc" / "acs-exporter-tls"
    web_dir = tmp_path / "etc" / "acs-exporter-web"
    tls_dir.mkdir(parents=True)
    web_dir.mkdir(parents=True)
    self_signed(tls_dir)
    web_text = secret_data(rendered.one("Secret"))["web-config.yml"]
    web_file = web_dir / "web-config.yml"
    web_file.write_text(web_text.replace("/etc/", f"{tmp_path}/etc/"))
    config = rendered.config()
    config["web"]["config_file"] = str(web_file)
    config["state"]["path"] = str(tmp_path / "state.json")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    settings = load_settings(config_file)
    assert settings.web.config_file == web_file
    web = load_web_config(web_file)
    assert web.tls_server_config is not None
    assert web.basic_auth_users == {"prom": HASH}
