"""The web config (TLS, basic auth) from every place a team keeps it: values (web.tls,
web.basicAuth and the rest of the exporter-toolkit keys in web.config, written by the chart into
a Secret), an existing Secret or an existing ConfigMap. What the chart mounts is a web config the
exporter accepts; settings that would contradict each other are refused naming the keys, and
web.config's schema mirrors the exporter's own model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from helm_python.chart import Chart
from helm_python.errors import HelmRenderError, HelmValuesError
from helm_support import CHART_DIR, FULLNAME, Rendered, render
from pydantic import BaseModel
from test_chart_secrets import secret_data
from test_chart_web import HASH, TLS, WEB_CONFIG_FILE, probes, self_signed

WEB_SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())["properties"]["web"]
CLIENT_CA = "/etc/acs-exporter-client-ca/ca.crt"
HARDENED = {
    "web": {
        **TLS["web"],
        "basicAuth": {"users": {"prometheus": HASH}},
        "config": {
            "tls_server_config": {
                "min_version": "TLS13",
                "client_auth_type": "RequireAndVerifyClientCert",
                "client_ca_file": CLIENT_CA,
            },
            "http_server_config": {"headers": {"Strict-Transport-Security": "max-age=31536000"}},
        },
    }
}


def web_config(rendered: Rendered) -> dict[str, Any]:
    (secret,) = [
        doc for doc in rendered.all("Secret") if doc["metadata"]["name"].endswith("-web-config")
    ]
    loaded: dict[str, Any] = yaml.safe_load(secret_data(secret)["web-config.yml"])
    return loaded


def web_volume(rendered: Rendered) -> dict[str, Any]:
    (volume,) = [item for item in rendered.pod_spec["volumes"] if item["name"] == "web"]
    found: dict[str, Any] = volume
    return found


def test_web_config_keys_are_merged_over_what_the_chart_sets() -> None:
    assert web_config(render(HARDENED)) == {
        "tls_server_config": {
            "cert_file": "/etc/acs-exporter-tls/tls.crt",
            "key_file": "/etc/acs-exporter-tls/tls.key",
            "min_version": "TLS13",
            "client_auth_type": "RequireAndVerifyClientCert",
            "client_ca_file": CLIENT_CA,
        },
        "http_server_config": {"headers": {"Strict-Transport-Security": "max-age=31536000"}},
        "basic_auth_users": {"prometheus": HASH},
    }


def test_headers_alone_make_a_web_config_without_tls() -> None:
    headers = {"http_server_config": {"headers": {"X-Frame-Options": "DENY"}}}
    rendered = render({"web": {"config": headers}})
    assert web_config(rendered) == headers
    assert rendered.config()["web"]["config_file"] == WEB_CONFIG_FILE
    assert all("scheme" not in probe["httpGet"] for probe in probes(rendered))


def test_the_exporter_accepts_the_merged_web_config(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    from acs_exporter.server.webconfig import load_web_config

    rendered = render(HARDENED)
    cert_file, _ = self_signed(tmp_path)
    text = yaml.safe_dump(web_config(rendered))
    # The pod's paths, relocated: the chart's certificate and the client CA (extraVolumes).
    text = text.replace("/etc/acs-exporter-tls", str(tmp_path)).replace(CLIENT_CA, str(cert_file))
    web_file = tmp_path / "web-config.yml"
    web_file.write_text(text)
    web = load_web_config(web_file)
    assert web.tls_server_config is not None
    assert web.tls_server_config.min_version == "TLS13"
    assert web.tls_server_config.client_auth_type == "RequireAndVerifyClientCert"
    assert web.http_server_config.headers == {"Strict-Transport-Security": "max-age=31536000"}
    assert web.basic_auth_users == {"prometheus": HASH}


def test_an_existing_config_map_is_mounted_and_no_secret_made() -> None:
    rendered = render({"web": {"existingConfigMap": "team-web-config", "tls": {"enabled": True}}})
    assert "Secret" not in rendered.kinds()
    assert web_volume(rendered) == {
        "name": "web",
        "configMap": {
            "name": "team-web-config",
            "items": [{"key": "web-config.yml", "path": "web-config.yml"}],
        },
    }
    assert rendered.config()["web"]["config_file"] == WEB_CONFIG_FILE
    for probe in probes(rendered):
        assert probe["httpGet"]["scheme"] == "HTTPS"


def test_the_chart_made_and_existing_secret_forms_still_mount_a_secret() -> None:
    made = web_volume(render(HARDENED))
    assert made["secret"]["secretName"] == f"{FULLNAME}-web-config"
    existing = web_volume(render({"web": {"existingSecret": "team-web"}}))
    assert existing["secret"]["secretName"] == "team-web"
    assert "configMap" not in existing


@pytest.mark.parametrize(
    ("web", "message"),
    [
        (
            {"config": {"tls_server_config": {"min_version": "TLS13"}}},
            r"web\.config\.tls_server_config needs web\.tls\.enabled",
        ),
        (
            {"existingSecret": "a", "config": {"http_server_config": {"headers": {"X": "1"}}}},
            r"web\.existingSecret and web\.config",
        ),
        (
            {"existingConfigMap": "a", "basicAuth": {"users": {"p": HASH}}},
            r"web\.existingConfigMap and web\.basicAuth\.users",
        ),
        (
            {"existingConfigMap": "a", "existingSecret": "b"},
            r"existingSecret and .*existingConfigMap",
        ),
    ],
)
def test_contradictory_web_config_sources_are_refused(web: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmRenderError, match=message):
        render({"web": web})


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (
            {"tls_server_config": {"min_version": "1.3"}},
            "/web/config/tls_server_config/min_version",
        ),
        ({"tls_server_config": {"cipher_suites": ["RC4"]}}, "/tls_server_config/cipher_suites/0"),
        ({"tls_server_config": {"client_auth_type": "Require"}}, "/client_auth_type"),
        ({"tls_server_config": {"client_ca_file": "ca.crt"}}, "/client_ca_file"),
        ({"tls_server_config": {"minVersion": "TLS13"}}, "minVersion"),
        ({"basic_auth_users": {"p": HASH}}, "basic_auth_users"),
        ({"http_server_config": {"headers": {"X-Count": 1}}}, "/http_server_config/headers"),
        # Helm's validator names a bad property name, not where it is.
        ({"http_server_config": {"headers": {"Bad Name": "x"}}}, "'Bad Name'"),
    ],
)
def test_the_schema_refuses_a_bad_web_config_key(config: dict[str, Any], named: str) -> None:
    with Chart.load(CHART_DIR) as chart, pytest.raises(HelmValuesError) as error:
        chart.validate_schema({"web": {"config": config}})
    assert named in str(error.value)


def test_the_schema_refuses_a_bad_config_map_name() -> None:
    with Chart.load(CHART_DIR) as chart, pytest.raises(HelmValuesError) as error:
        chart.validate_schema({"web": {"existingConfigMap": "Team_Web"}})
    assert "/web/existingConfigMap" in str(error.value)


def fields(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def test_web_config_schema_mirrors_the_exporters_model() -> None:
    from acs_exporter.server import webconfig

    schema = WEB_SCHEMA["properties"]["config"]["properties"]
    # Basic auth users have their own key (web.basicAuth.users): one place for them.
    assert set(schema) == fields(webconfig.WebConfig) - {"basic_auth_users"}
    tls = schema["tls_server_config"]["properties"]
    assert set(tls) == fields(webconfig.TlsServerConfig)
    assert set(schema["http_server_config"]["properties"]) == fields(webconfig.HttpServerConfig)
    versions = list(get_args(webconfig.TlsVersion))
    assert tls["min_version"]["enum"] == tls["max_version"]["enum"] == versions
    assert tls["client_auth_type"]["enum"] == list(get_args(webconfig.ClientAuth))
    known = webconfig.CIPHER_SUITES.keys() | webconfig.TLS13_CIPHER_SUITES
    assert set(tls["cipher_suites"]["items"]["enum"]) == known


def test_the_notes_warn_about_web_config_files_on_no_volume() -> None:
    """A client CA (or certificate) web.config names must be mounted by the user: the notes say
    so, as for every other file the configuration names, and stay quiet once it is mounted."""
    notes = render(HARDENED).notes
    assert f"web.config.tls_server_config.client_ca_file: {CLIENT_CA}" in notes
    mounted = {
        **HARDENED,
        "extraVolumes": [{"name": "client-ca", "configMap": {"name": "client-ca"}}],
        "extraVolumeMounts": [{"name": "client-ca", "mountPath": "/etc/acs-exporter-client-ca"}],
    }
    assert "client_ca_file" not in render(mounted).notes
