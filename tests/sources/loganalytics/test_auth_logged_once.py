"""An authentication failure is logged once per poll: by the exporter's `poll failed` line (with
the source, the reason and the credential's own words), not again by the Azure SDK's loggers.

The real process, the real DefaultAzureCredential (limited to the Azure CLI credential) and a
stand-in `az` that fails, or a token the local Log Analytics server rejects (401)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import failing_az
from support.daemon_helpers import assert_exited_cleanly, killed_if_left_running, wait_for

from .fake_server import FakeLogAnalytics, Fault
from .test_readiness import launch, live_server

__all__ = ["live_server"]  # the fixture, shared with test_readiness

pytestmark = pytest.mark.e2e

AZ_WORDS = "ERROR: AADSTS700016: marker-7f3a: the tenant refused the sign-in"


def _run_until_failed_polls(
    server: FakeLogAnalytics, az_dir: Path, tmp_path: Path, polls: int
) -> list[dict[str, object]]:
    with killed_if_left_running(launch(server, az_dir, tmp_path)) as run:
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
    az_dir = failing_az(tmp_path / "failing-bin", AZ_WORDS)
    lines = _run_until_failed_polls(live_server, az_dir, tmp_path, polls=3)
    _assert_each_failure_logged_once(lines, "marker-7f3a")
    assert live_server.stats.requests == 0  # no token: nothing was sent


def test_a_rejected_token_is_logged_once_per_poll(
    tmp_path: Path, live_server: FakeLogAnalytics, fake_az: Path
) -> None:
    server = live_server
    server.inject(*[Fault.http(401)] * 50)
    lines = _run_until_failed_polls(server, fake_az, tmp_path, polls=3)
    _assert_each_failure_logged_once(lines, "token rejected (401)")
