"""Secrets stay in Secrets: OTLP push headers (and any other secret-bearing value) never reach a
ConfigMap, an annotation or NOTES.txt; the pod gets them through secretKeyRef, and the exporter,
given the rendered config.yaml plus the Secret's content as that environment variable, ends up
with exactly the headers the values asked for."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_python.errors import HelmRenderError
from helm_support import FULLNAME, Rendered, render

from acs_exporter.config import load_settings

TOKEN = "Bearer tok-0f9e8d7c6b5a-NEVER-IN-A-CONFIGMAP"
API_KEY = "k3y-1a2b3c4d-NEVER-IN-A-CONFIGMAP"
HEADERS = {"Authorization": TOKEN, "X-Api-Key": API_KEY}
OTLP = {"enabled": True, "endpoint": "https://otlp.example.com/v1/metrics", "headers": HEADERS}
HEADERS_ENV = "ACS_EXPORTER_OTLP__HEADERS"


def forms(secret: str) -> list[str]:
    """The ways a value can leak into a manifest: as is, base64'd, JSON-escaped."""
    return [secret, base64.b64encode(secret.encode()).decode(), json.dumps(secret)[1:-1]]


def holders(rendered: Rendered, secret: str) -> list[str]:
    """kind/name of every document (and NOTES.txt) whose text holds `secret` in any form."""
    found = []
    for doc in rendered.docs:
        text = yaml.safe_dump(doc) + json.dumps(doc)
        if doc["kind"] == "Secret":
            text += json.dumps(secret_data(doc))
        if any(form in text for form in forms(secret)):
            found.append(f"{doc['kind']}/{doc['metadata']['name']}")
    if any(form in rendered.notes for form in forms(secret)):
        found.append("NOTES.txt")
    return found


def secret_data(doc: dict[str, Any]) -> dict[str, str]:
    data = {key: base64.b64decode(value).decode() for key, value in doc.get("data", {}).items()}
    return {**data, **doc.get("stringData", {})}


def test_otlp_header_values_are_only_in_a_chart_made_secret() -> None:
    rendered = render({"config": {"otlp": OTLP}})
    secret_name = f"{FULLNAME}-otlp-headers"
    for value in HEADERS.values():
        assert holders(rendered, value) == [f"Secret/{secret_name}"]
    config = rendered.config()
    assert "headers" not in config["otlp"], "the ConfigMap must carry no header (not even {})"
    (secret,) = rendered.all("Secret")
    assert secret["type"] == "Opaque"
    assert json.loads(secret_data(secret)["headers.json"]) == HEADERS
    assert rendered.env()[HEADERS_ENV] == {
        "name": HEADERS_ENV,
        "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "headers.json"}},
    }


def test_the_exporter_gets_the_headers_from_the_rendered_config_and_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the pod sees: config.yaml from the ConfigMap, the variable from the Secret."""
    rendered = render({"config": {"otlp": OTLP}})
    config_file = tmp_path / "config.yaml"
    config_file.write_text(rendered.one("ConfigMap")["data"]["config.yaml"])
    monkeypatch.setenv(HEADERS_ENV, secret_data(rendered.one("Secret"))["headers.json"])
    settings = load_settings(config_file)
    assert settings.otlp.headers == HEADERS
    assert settings.otlp.endpoint == OTLP["endpoint"]
    assert settings.otlp.enabled is True


def test_otlp_headers_from_an_existing_secret_are_nowhere_in_the_release() -> None:
    rendered = render(
        {
            "config": {"otlp": {"enabled": True}},
            "otlpHeaders": {"existingSecret": "otlp-auth", "key": "headers"},
        }
    )
    assert "Secret" not in rendered.kinds()
    assert "headers" not in rendered.config()["otlp"]
    assert rendered.env()[HEADERS_ENV]["valueFrom"] == {
        "secretKeyRef": {"name": "otlp-auth", "key": "headers"}
    }


def test_headers_in_values_and_an_existing_secret_are_refused() -> None:
    with pytest.raises(
        HelmRenderError, match=r"config\.otlp\.headers.*otlpHeaders\.existingSecret"
    ):
        render({"config": {"otlp": OTLP}, "otlpHeaders": {"existingSecret": "otlp-auth"}})


def test_no_headers_no_secret_and_no_variable() -> None:
    rendered = render({"config": {"otlp": {"enabled": True}}})
    assert "Secret" not in rendered.kinds()
    assert HEADERS_ENV not in rendered.env()


def test_a_header_change_restarts_the_pod_without_showing_the_value() -> None:
    def annotations(token: str) -> dict[str, str]:
        values = {"config": {"otlp": {**OTLP, "headers": {"Authorization": token}}}}
        pod = render(values).one("Deployment")["spec"]["template"]
        found: dict[str, str] = pod["metadata"]["annotations"]
        return found

    first, second = annotations(TOKEN), annotations(TOKEN + "-rotated")
    assert first["checksum/secret"] != second["checksum/secret"]
    assert first["checksum/config"] == second["checksum/config"]
    assert not any(form in json.dumps(first) for form in forms(TOKEN))
