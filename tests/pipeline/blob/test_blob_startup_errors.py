"""state.backend azure_blob at start-up, with storage that cannot be used: the error names the
problem and the key, never a secret (the account key, a proxy's password), never a traceback.
No storage is reached: the connection string points at a closed port, as a careless first
deployment's does."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from support.azurite import KEY
from support.daemon_helpers import EXPORTER
from support.ports import free_port

PROXY_PASSWORD = "ProxyPw9z8y7x"


def _run(tmp_path: Path, azure_blob: dict[str, str], env: dict[str, str]) -> tuple[int, str]:
    config = tmp_path / "config.yaml"
    state = {"backend": "azure_blob", "azure_blob": {"lease_duration": "15s", **azure_blob}}
    config.write_text(yaml.safe_dump({"state": state}))
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ACS_EXPORTER_", "AZURE_")) and "proxy" not in k.lower()
    }
    environment.update(env)
    listen = f"127.0.0.1:{free_port()}"
    result = subprocess.run(
        [*EXPORTER, "run", "--config.file", str(config), "--web.listen-address", listen],
        capture_output=True,
        text=True,
        env=environment,
        timeout=90,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    return result.returncode, output


def _connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )


def _local(port: int) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}/devstoreaccount1/acs-exporter"
    return {"container_url": url, "auth_mode": "connection_string"}


def test_proxy_password_urllib3_cannot_parse_is_not_in_the_error(tmp_path: Path) -> None:
    """A '#' left unencoded in the proxy's password: urllib3 says "Failed to parse:
    'proxyuser:<password>'", which the storage error quoted."""
    port = free_port()
    status, output = _run(
        tmp_path,
        _local(port),
        {
            "AZURE_STORAGE_CONNECTION_STRING": _connection_string(port),
            "HTTP_PROXY": f"http://proxyuser:{PROXY_PASSWORD}#1@proxy.internal:3128",
        },
    )
    assert status == 1, output
    assert "cannot be used" in output, output
    assert PROXY_PASSWORD not in output, output


def test_a_malformed_connection_string_is_a_clear_error(tmp_path: Path) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": f"AccountKey={KEY}"}
    status, output = _run(tmp_path, _local(free_port()), env)
    assert status == 1, output
    assert "AZURE_STORAGE_CONNECTION_STRING cannot be read" in output, output
    assert KEY[:20] not in output, output


def test_a_token_over_http_is_refused_by_the_configuration(tmp_path: Path) -> None:
    """auth_mode default over http://: the SDK refused at the first request, a traceback."""
    blob = {"container_url": f"http://127.0.0.1:{free_port()}/devstoreaccount1/acs"}
    status, output = _run(tmp_path, blob, {})
    assert status == 2, output
    assert "needs an https:// container_url" in output, output
