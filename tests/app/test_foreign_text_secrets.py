"""Secrets quoted in someone else's words: the OpenTelemetry SDK's warnings, urllib3's parse
error for a proxy URL, the Azure CLI output azure-identity could not read, a gateway's 401 body.
None of these is a URL the exporter builds, so masking URLs cannot catch them; the secrets the
process holds are collected at start-up and scrubbed from every log line and every status
message (/readyz, the landing page). Real process, real SDKs, planted secrets looked for in
everything it prints or serves."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import azure_cli_env, fake_az, token_az
from support.daemon_helpers import Running, run_cli, start
from support.https_fake import HttpsFake
from support.ports import free_port

API_KEY = "apikey-5e4d3c2b1a09"
HEADER_TOKEN = "hdrtok-0a1b2c3d4e5f"
BLOCK_TOKEN = "blocktok-6f5e4d3c2b1a"
PROXY_PASSWORD = "ProxyPw9z8y7x"
# JWT-shaped, as every Entra access token is; MARK is its signature part.
JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJzZWNyZXQifQ.c2lnbmF0dXJlLTlmOGU3ZDZj"
MARK = "c2lnbmF0dXJlLTlmOGU3ZDZj"
SUB = "00000000-0000-4000-8000-00000000000a"
ACS = (
    f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
    "Microsoft.Communication/communicationServices/acs-one"
)


def _wait_log(running: Running, needle: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running.process.poll() is None:
        if needle in running.log():
            break
        time.sleep(0.1)
    return running.log()


def _otlp_config(tmp_path: Path, endpoint: str, timeout: str = "1s", **more: Any) -> Path:
    path = tmp_path / "config.yaml"
    otlp = {"enabled": True, "endpoint": endpoint, "interval": "300ms", "timeout": timeout}
    path.write_text(yaml.safe_dump({"log": {"level": "info"}, "otlp": {**otlp, **more}}))
    return path


def _lines_with(log: str, secret: str) -> list[str]:
    return [line for line in log.splitlines() if secret in line][:2]


def test_sdk_retry_warning_does_not_print_the_endpoint_query_key(tmp_path: Path) -> None:
    """requests' ConnectionError, quoted by the SDK's retry warning, holds the raw query."""
    endpoint = f"http://127.0.0.1:{free_port()}/v1/metrics?api_key={API_KEY}"
    # A 5 s push timeout leaves room for the SDK's ~1 s backoff, so it retries (and logs).
    running = start(["--config.file", str(_otlp_config(tmp_path, endpoint, "5s"))], tmp_path)
    try:
        log = _wait_log(running, "encountered while exporting", timeout=30)
    finally:
        running.stop()
    assert "api_key=***" in log, log  # our own start-up line
    assert "encountered while exporting" in log, log  # the SDK did fail, and said so
    assert API_KEY not in log, _lines_with(log, API_KEY)


def test_sdk_warning_about_the_headers_variable_does_not_print_it(tmp_path: Path) -> None:
    """OTEL_EXPORTER_OTLP_HEADERS written the HTTP way (`Name: value`): the SDK's parser warns
    and quotes the whole header."""
    endpoint = f"http://127.0.0.1:{free_port()}/v1/metrics"
    running = start(
        ["--config.file", str(_otlp_config(tmp_path, endpoint))],
        tmp_path,
        env={"OTEL_EXPORTER_OTLP_HEADERS": f"Authorization: Bearer {HEADER_TOKEN}"},
    )
    try:
        log = _wait_log(running, "Failed to export", timeout=30)
    finally:
        running.stop()
    assert "Failed to export" in log, log
    assert HEADER_TOKEN not in log, _lines_with(log, HEADER_TOKEN)


def test_otlp_header_with_a_newline_is_refused(tmp_path: Path) -> None:
    """A YAML block scalar keeps a trailing newline: requests would refuse the header at every
    push, quoting its value. It is a configuration error, named, never echoed."""
    path = tmp_path / "config.yaml"
    path.write_text(
        f"otlp:\n  enabled: true\n  headers:\n    Authorization: |\n      Bearer {BLOCK_TOKEN}\n"
    )
    for command in (["check-config", str(path)], ["run", "--config.file", str(path)]):
        result = run_cli(command)
        output = result.stdout + result.stderr
        assert result.returncode == 2, output
        assert "otlp.headers" in output, output
        assert "'Authorization'" in output, output
        assert BLOCK_TOKEN not in output, output


def _source(kind: str, endpoint: str, ca_file: Path | None = None) -> dict[str, object]:
    common: dict[str, object] = {"endpoint": endpoint, "poll_interval": "1s"}
    if ca_file is not None:
        common["tls_ca_file"] = str(ca_file)
    if kind == "log_analytics":
        ids = {"workspace_ids": ["00000000-0000-0000-0000-000000000001"]}
        return {"type": kind, "name": "la", **ids, **common}
    return {"type": kind, "name": "am", "resource_ids": [ACS], **common}


def _everything_shown(tmp_path: Path, source: dict[str, object], env: dict[str, str]) -> str:
    """The log, /readyz and the landing page of a process whose one source fails to poll."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"log": {"level": "info"}, "sources": [source]}))
    running = start(["--config.file", str(config)], tmp_path, env=env)
    try:
        log = _wait_log(running, '"poll failed"', timeout=60)
        status, readyz = running.get("/readyz")
        _, landing = running.get("/")
    finally:
        running.stop()
    assert '"poll failed"' in log, log
    assert status == 503, readyz
    return "\n".join((log, readyz, landing))


@pytest.mark.parametrize("kind", ["log_analytics", "azure_metrics"])
def test_proxy_password_urllib3_cannot_parse_is_not_shown(tmp_path: Path, kind: str) -> None:
    """A '#' left unencoded in the proxy's password: urllib3 says "Failed to parse:
    'proxyuser:<password>'", not a URL."""
    env = azure_cli_env(token_az(tmp_path / "bin", JWT))
    env["HTTPS_PROXY"] = f"http://proxyuser:{PROXY_PASSWORD}#2024@proxy.internal:3128"
    shown = _everything_shown(tmp_path, _source(kind, f"https://127.0.0.1:{free_port()}"), env)
    assert PROXY_PASSWORD not in shown, _lines_with(shown, PROXY_PASSWORD)


def test_token_in_cli_output_azure_identity_cannot_read_is_not_shown(tmp_path: Path) -> None:
    """Compact JSON with an expiry azure-identity cannot parse: its error quotes the output,
    token included (it only redacts `"accessToken": "` written with one space)."""
    body = (
        "import json\n"
        f"print(json.dumps({{'accessToken': {JWT!r}, 'tokenType': 'Bearer',"
        " 'expiresOn': '2030-01-01T00:00:00Z'}, separators=(',', ':')))"
    )
    env = azure_cli_env(fake_az(tmp_path / "bin", body))
    shown = _everything_shown(
        tmp_path, _source("log_analytics", f"https://127.0.0.1:{free_port()}"), env
    )
    assert MARK not in shown, _lines_with(shown, MARK)


class _EchoingGateway(HttpsFake):
    """Answers every query 401, its plain-text body quoting the Authorization it refused."""

    name = "echo-gateway"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = f"401 Unauthorized: rejected {self.headers.get('Authorization')}"
                self.send_response(401)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

        return Handler


def test_bearer_token_echoed_by_a_gateway_is_not_relayed(tmp_path: Path) -> None:
    env = azure_cli_env(token_az(tmp_path / "bin", JWT))
    with _EchoingGateway() as gateway:
        source = _source("log_analytics", gateway.url, gateway.ca_file)
        shown = _everything_shown(tmp_path, source, env)
    assert "rejected Bearer ***" in shown, shown[-2000:]  # the words stay, the token goes
    assert MARK not in shown, _lines_with(shown, MARK)
