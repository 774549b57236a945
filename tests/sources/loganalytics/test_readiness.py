"""The real `acs-exporter run` process against the local Log Analytics server: /readyz turns
ready only once a query has succeeded against the service, and until then says what the
service answered (codes and correlationId), as the log line does."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from support.daemon_helpers import Running, log_analytics_config, samples, start, wait_for

from .fake_server import FakeLogAnalytics
from .kusto import KustoChecker

pytestmark = pytest.mark.e2e

WS = "c0ffee00-0000-4000-8000-000000000002"
CORRELATION = re.compile(r"correlationId ([0-9a-f-]{36})")


@pytest.fixture
def live_server(kusto: KustoChecker) -> Iterator[FakeLogAnalytics]:
    with FakeLogAnalytics(kusto) as server:  # the real clock, as the process has
        server.add_workspace(WS)
        yield server


def launch(server: FakeLogAnalytics, fake_az: Path, tmp_path: Path) -> Running:
    config = log_analytics_config(server, WS, tmp_path / "state" / "checkpoint.json")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {
        "PATH": f"{fake_az}{os.pathsep}{os.environ.get('PATH', '')}",
        "AZURE_TOKEN_CREDENTIALS": "AzureCliCredential",
    }
    return start(["--config.file", str(path)], tmp_path, env=env)


def test_ready_only_after_the_service_answered_and_until_then_its_words(
    live_server: FakeLogAnalytics, fake_az: Path, tmp_path: Path
) -> None:
    server = live_server
    server.deny(WS)  # the identity has no Reader role yet
    running = launch(server, fake_az, tmp_path)
    try:
        wait_for(lambda: len(server.stats.errors) >= 1, "a first refused query", running)

        def answered() -> bool:  # the daemon has handled the refusal (or wrongly turned ready)
            status, text = running.get("/readyz")
            return status == 200 or "last poll failed" in text

        wait_for(answered, "the refusal to reach /readyz", running)
        status, text = running.get("/readyz")
        # initial_lookback is 0s: the first window is empty, yet the service was asked and said no.
        assert status == 503, text
        assert "source la: last poll failed: auth:" in text
        assert "InsufficientAccessError" in text
        assert "UnauthorizedClient" in text
        assert "Log Analytics Reader" in text
        sent = {error["correlationId"] for error in server.stats.errors}
        shown = CORRELATION.findall(text)
        assert shown, text
        assert set(shown) <= sent, (shown, sent)
        # The log line carries the same words (the id of the poll /readyz showed).
        wait_for(lambda: shown[0] in running.log(), "the correlationId in the log", running)
        line = next(x for x in running.log().splitlines() if shown[0] in x)
        assert "poll failed" in line
        assert "InsufficientAccessError" in line
        assert running.get("/readyz")[0] == 503

        refused = len(server.stats.errors)
        server.allow(WS)  # the role assignment has propagated
        running.wait_ready(timeout=60)
        assert server.stats.requests > refused  # a query that succeeded
        up = samples(running.metrics(), "acs_exporter_source_up")
        assert up == {(("source", "la"),): 1.0}
    finally:
        running.stop()
