"""Nothing that could be a secret is ever printed: not in a configuration error (whatever the
key, whichever the source: file, environment, flag), not in check-config's dump, not in run's
log. Recognisable secrets are planted and looked for in everything the processes print."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import yaml

from acs_exporter.inputs.redact import mask_url, shown_value
from support.daemon_helpers import run_cli, start
from support.otlp_receiver import Receiver, otlp_receiver

TOKEN = "tok-9f8e7d6c5b4a"
HEADER = f"Bearer {TOKEN}-header"
PASSWORD = "pw-3c2b1a0f9e8d"
SAS = "sig-77aa66bb55cc"
BCRYPT = "$2y$10$" + "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"[:53]
# Each planted secret, and recognisable fragments of them.
PLANTED = (TOKEN, PASSWORD, SAS, "9f8e7d6c", "3c2b1a0f", "77aa66bb", BCRYPT[7:30])


def leaks(text: str) -> list[str]:
    return [secret for secret in PLANTED if secret in text]


def check_and_run(
    tmp_path: Path,
    text: str,
    env: Mapping[str, str] | None = None,
    flags: tuple[str, ...] = (),
) -> list[tuple[str, int, str]]:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    results = []
    for command in (["check-config", str(path)], ["run", "--config.file", str(path)]):
        result = run_cli([*command, *flags], env=env)
        results.append((command[0], result.returncode, result.stdout + result.stderr))
    return results


BAD_CONFIGS = {
    "duplicate-source-names": f"""
otlp:
  endpoint: https://alice:{PASSWORD}@otlp.example/v1/metrics?sig={SAS}
  headers: {{Authorization: "{HEADER}"}}
sources:
  - {{type: simulator, name: a}}
  - {{type: simulator, name: a}}
""",
    "header-value-not-a-string": f"otlp:\n  headers: {{Authorization: [{HEADER}]}}\n",
    "endpoint-wrong-scheme": f"otlp:\n  endpoint: ftp://alice:{PASSWORD}@x/?sig={SAS}\n",
    "endpoint-without-scheme": f"otlp:\n  endpoint: alice:{PASSWORD}@otlp.example\n",
    "token-in-every-value": f"""
web: {{listen_address: {TOKEN}}}
log: {{level: {TOKEN}, format: {TOKEN}}}
metrics: {{extra_labels: [{TOKEN}], max_series: {TOKEN}, colour: {TOKEN}}}
state: {{path: [{TOKEN}]}}
otlp: {{enabled: {TOKEN}, interval: {TOKEN}, timeout: "{BCRYPT}", header: {{Authorization: x}}}}
sources:
  - {{type: {TOKEN}}}
  - {{type: simulator, scenario: {TOKEN}, poll_interval: {TOKEN}, calls_per_second: {TOKEN}}}
  - {{type: simulator, seed: {TOKEN}, record_file: [{TOKEN}], spike_start: {TOKEN}}}
  - {{type: log_analytics, workspace_ids: {TOKEN}, tables: [{TOKEN}], mode: {TOKEN}}}
  - {{type: files, paths: {TOKEN}, format: {TOKEN}, batch_records: {TOKEN}}}
""",
    "sections-as-text": f"otlp: {TOKEN}\nweb: {PASSWORD}\n",
    "sources-as-text": f"sources: {TOKEN}\n",
    "unknown-section-holding-secrets": f"otpl:\n  headers: {{Authorization: {HEADER}}}\n",
    "syntax-error-next-to-a-secret": f'otlp: {{headers: {{Authorization: "{HEADER}}}\n',
    "duplicate-header": (
        f"otlp:\n  headers:\n    Authorization: {HEADER}\n    Authorization: {TOKEN}\n"
    ),
    "log-analytics-endpoint-credentials": (
        f"sources:\n  - type: log_analytics\n    workspace_ids: [w]\n"
        f"    endpoint: https://bob:{PASSWORD}@api.loganalytics.io/?token={TOKEN}\n"
    ),
    "bcrypt-in-a-name": f"sources:\n  - {{type: simulator, name: '{BCRYPT}', seed: x}}\n",
    # A SAS is no way in (auth_mode is): refused, never printed.
    "sas-in-container-url": (
        "state:\n  backend: azure_blob\n  azure_blob:\n    auth_mode: connection_string\n"
        f"    container_url: https://a.blob.core.windows.net/c?sv=2022-11-02&sig={SAS}\n"
    ),
    "otlp-header-value-with-a-newline": (
        f"otlp:\n  headers:\n    Authorization: |\n      {HEADER}\n"
    ),
}


@pytest.mark.e2e
@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_bad_config_errors_print_no_secret(name: str, tmp_path: Path) -> None:
    for command, status, output in check_and_run(tmp_path, BAD_CONFIGS[name]):
        assert status == 2, (command, output)
        assert "Traceback" not in output
        assert leaks(output) == [], (command, output)


BAD_ENVIRONMENTS = {
    "headers-not-json": {"ACS_EXPORTER_OTLP__HEADERS": f"Authorization={HEADER}"},
    "section-json-broken": {"ACS_EXPORTER_OTLP": f'{{"headers": {{"Authorization": "{HEADER}"'},
    "section-json-invalid-value": {
        "ACS_EXPORTER_OTLP": json.dumps({"headers": {"Authorization": HEADER}, "interval": "0s"})
    },
    "endpoint": {"ACS_EXPORTER_OTLP__ENDPOINT": f"ftp://alice:{PASSWORD}@x"},
    "sources": {"ACS_EXPORTER_SOURCES": json.dumps([{"type": TOKEN}])},
    "sources-not-json": {"ACS_EXPORTER_SOURCES": f"[{TOKEN}"},
    "listen-address": {"ACS_EXPORTER_WEB__LISTEN_ADDRESS": TOKEN},
}


@pytest.mark.e2e
@pytest.mark.parametrize("name", list(BAD_ENVIRONMENTS))
def test_bad_environment_errors_print_no_secret(name: str, tmp_path: Path) -> None:
    for command, status, output in check_and_run(tmp_path, "", env=BAD_ENVIRONMENTS[name]):
        assert status == 2, (command, output)
        assert "environment variable ACS_EXPORTER_" in output
        assert leaks(output) == [], (command, output)


@pytest.mark.e2e
@pytest.mark.parametrize("flag", ["--log.level", "--log.format", "--web.listen-address"])
def test_bad_flag_errors_print_no_secret(flag: str, tmp_path: Path) -> None:
    for command, status, output in check_and_run(tmp_path, "", flags=(flag, TOKEN)):
        assert status == 2, (command, output)
        assert f"command-line flag {flag}" in output
        assert leaks(output) == [], (command, output)


@pytest.mark.e2e
def test_check_config_dump_masks_urls_and_headers(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""
otlp:
  endpoint: https://alice:{PASSWORD}@otlp.example:4318/v1/metrics?sig={SAS}&v=1
  headers: {{Authorization: "{HEADER}", X-Other: "{TOKEN}"}}
"""
    )
    result = run_cli(["check-config", str(path)])
    assert result.returncode == 0, result.stderr
    assert leaks(result.stdout + result.stderr) == []
    dumped = yaml.safe_load(result.stdout)
    assert dumped["otlp"]["endpoint"] == "https://***@otlp.example:4318/v1/metrics?sig=***&v=***"
    assert dumped["otlp"]["headers"] == {"Authorization": "***", "X-Other": "***"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as state:
        yield state


@pytest.mark.e2e
def test_run_pushes_with_url_credentials_and_logs_none(tmp_path: Path, receiver: Receiver) -> None:
    """`https://user:password@host` works (as a Basic header) and is never logged, not even
    at debug level."""
    endpoint = receiver.url.replace("http://", f"http://alice:{PASSWORD}@")
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "log": {"level": "debug"},
                "otlp": {"enabled": True, "endpoint": endpoint, "interval": "300ms"},
            }
        )
    )
    running = start(["--config.file", str(config)], tmp_path)
    try:
        running.wait_ready()
        receiver.wait(1, timeout=30)
    finally:
        assert running.stop() == 0, running.log()
    expected = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert receiver.headers[-1]["authorization"] == expected
    assert leaks(running.log()) == [], running.log()
    # The endpoint is logged, without its credentials.
    assert f"pushing metrics over OTLP to {receiver.url}" in running.log(), running.log()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@h/x", "https://***@h/x"),
        ("https://token@h", "https://***@h"),
        ("http://h:1/v1/metrics", "http://h:1/v1/metrics"),
        ("https://h/?sig=abc&x", "https://h/?sig=***&***"),
        ("https://h/#frag", "https://h/"),
        ("http://[::1", "***"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (3, "3"),
        (-1.5, "-1.5"),
        (float("inf"), "inf"),
        (True, "True"),
        (None, "None"),
        ("15s", "'15s'"),
        ("1m30s", "'1m30s'"),
        ("Bearer x", None),
        ("info", None),
        ({"a": 1}, None),
        ([1], None),
        (10**40, "10000000...(41 digits)"),
    ],
)
def test_only_values_that_cannot_be_secrets_are_shown(value: object, shown: str | None) -> None:
    assert shown_value(value) == shown
