"""An authentication failure is logged once per poll: by the exporter's `poll failed` line (with
the source, the reason and the credential's own words), not again by the Azure SDK's loggers.

The real process, the real DefaultAzureCredential (limited to the Azure CLI credential) and a
stand-in `az` that fails, or a token the local Log Analytics server rejects (401)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from daemon.daemon_helpers import (
    assert_exited_cleanly,
    killed_if_left_running,
    log_analytics_config,
    start,
    wait_for,
)

from .fake_server import FakeLogAnalytics, Fault
from .kusto import KustoChecker

pytestmark = pytest.mark.e2e

WS = "c0ffee00-0000-4000-8000-000000000014"
AZ_WORDS = "ERROR: AADSTS700016: marker-7f3a: the tenant refused the sign-in"


@pytest.fixture
def live_server(kusto: KustoChecker) -> Iterator[FakeLogAnalytics]:
    with FakeLogAnalytics(kusto) as server:  # the real clock, as the process has
        server.add_workspace(WS)
        yield server


def _failing_az(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "failing-bin"
    bin_dir.mkdir()
    script = bin_dir / "az"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nsys.stderr.write({AZ_WORDS!r} + '\\n')\nsys.exit(1)\n"
    )
    script.chmod(0o755)
    return bin_dir


def _run_until_failed_polls(
    server: FakeLogAnalytics, az_dir: Path, tmp_path: Path, polls: int
) -> list[dict[str, object]]:
    config = log_analytics_config(server, WS, tmp_path / "state" / "checkpoint.json")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {
        "PATH": f"{az_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "AZURE_TOKEN_CREDENTIALS": "AzureCliCredential",
    }
    with killed_if_left_running(start(["--config.file", str(path)], tmp_path, env=env)) as run:
        wait_for(lambda: run.log().count('"poll failed"') >= polls, "failed polls", run, 120)
        log = assert_exited_cleanly(run, run.stop())
    return [json.loads(line) for line in log.splitlines()]


def _assert_each_failure_logged_once(lines: list[dict[str, object]], words: str) -> None:
    failed = [line for line in lines if line["msg"] == "poll failed"]
    mentioning = [line for line in lines if words in json.dumps(line)]
    assert len(failed) >= 2
    assert all(line["reason"] == "auth" and words in str(line["error"]) for line in failed)
    assert mentioning == failed, [line["logger"] for line in mentioning]
    assert not [line for line in lines if str(line["logger"]).startswith("azure")]


def test_a_failing_credential_is_logged_once_per_poll(
    tmp_path: Path, live_server: FakeLogAnalytics
) -> None:
    lines = _run_until_failed_polls(live_server, _failing_az(tmp_path), tmp_path, polls=3)
    _assert_each_failure_logged_once(lines, "marker-7f3a")
    assert live_server.stats.requests == 0  # no token: nothing was sent


def test_a_rejected_token_is_logged_once_per_poll(
    tmp_path: Path, live_server: FakeLogAnalytics, fake_az: Path
) -> None:
    server = live_server
    server.inject(*[Fault.http(401)] * 50)
    lines = _run_until_failed_polls(server, fake_az, tmp_path, polls=3)
    _assert_each_failure_logged_once(lines, "token rejected (401)")
