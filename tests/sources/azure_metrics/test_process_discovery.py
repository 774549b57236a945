"""The real `acs-exporter run` process with an azure_metrics source that discovers its ACS
resources (`subscriptions`): not ready until the first discovery succeeds, the failures counted
and named on /readyz, then the discovered resources read and the discovery self-metrics served."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from support.daemon_helpers import Running, killed_if_left_running, samples, start, wait_for

from .conftest import ACS1, ACS2, EVENTS, SUB
from .fake_arm import FakeArm
from .fake_server import FakeAzureMetrics, Fault, minute_of

pytestmark = pytest.mark.e2e
SOURCE = (("source", "metrics"),)


def _config(tmp_path: Path, server: FakeAzureMetrics, arm: FakeArm) -> Path:
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_bytes(server.ca_file.read_bytes() + arm.ca_file.read_bytes())
    source = {
        "type": "azure_metrics",
        "name": "metrics",
        "subscriptions": [SUB],
        "arm_endpoint": arm.url,
        "endpoint": server.url,
        "tls_ca_file": str(bundle),
        "poll_interval": "200ms",
        "initial_lookback": "30m",
    }
    config = {
        "log": {"format": "json", "level": "info"},
        "state": {"path": str(tmp_path / "checkpoint.json")},
        "sources": [source],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_ready_after_the_first_discovery_then_discovered_resources_are_read(
    tmp_path: Path, az_env: dict[str, str]
) -> None:
    with FakeAzureMetrics() as server, FakeArm() as arm:
        arm.add(ACS1)
        arm.add(ACS2)
        minute = minute_of(datetime.now(UTC)) - timedelta(minutes=10)
        for n, resource in enumerate((ACS1, ACS2), start=2):
            server.add(
                resource,
                EVENTS,
                {"EventTypeName": "PlayFailed", "Code": "400", "SubCode": "8523"},
                minute,
                n,
            )
        arm.faults.extend([Fault.http(403)] * 2)  # the identity's role is not there yet
        path = _config(tmp_path, server, arm)
        with killed_if_left_running(
            start(["--config.file", str(path)], tmp_path, env=az_env)
        ) as running:

            def discovery_errors() -> dict[tuple[tuple[str, str], ...], float]:
                return samples(running.metrics(), "acs_exporter_discovery_errors_total")

            wait_for(lambda: _reachable(running), "the server", running)
            wait_for(
                lambda: discovery_errors().get((("reason", "auth"), *SOURCE), 0) >= 1,
                "a failed discovery",
                running,
            )
            status, text = running.get("/readyz")
            assert (status, SUB in text, "Reader" in text) in (
                (503, True, True),
                (200, False, False),  # the second attempt may have succeeded already
            ), text
            wait_for(lambda: running.get("/readyz")[0] == 200, "ready", running)
            scraped = running.metrics()
            assert samples(scraped, "acs_exporter_discovered_resources") == {SOURCE: 2.0}
            errors = samples(scraped, "acs_exporter_discovery_errors_total")
            assert errors[(("reason", "auth"), *SOURCE)] == 2.0
            assert errors[(("reason", "throttled"), *SOURCE)] == 0.0  # known reasons at 0
            queries = samples(scraped, "acs_exporter_query_errors_total")
            assert queries[(("reason", "auth"), *SOURCE)] == 2.0  # the polls that failed
            events = samples(scraped, "acs_call_automation_events_total")
            by_resource = {dict(k)["resource"]: v for k, v in events.items()}
            assert by_resource == {"acs-one": 2.0, "acs-two": 3.0}
            assert running.stop() == 0, running.log()
        assert "fake-token" not in running.log()


def _reachable(running: Running) -> bool:
    try:
        return running.get("/healthz")[0] == 200
    except OSError:
        return False
