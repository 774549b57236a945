"""`otlp.enabled`: the real process pushes the same metrics to a local OTLP/HTTP receiver."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from support.daemon_helpers import start
from support.otlp_receiver import Receiver, otlp_receiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as state:
        yield state


def metric_names(request: ExportMetricsServiceRequest) -> set[str]:
    return {
        metric.name
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


def test_the_running_exporter_pushes_over_otlp(tmp_path: Path, receiver: Receiver) -> None:
    secret = "Bearer otlp-secret-token"
    running = start(
        [],
        tmp_path,
        env={
            "ACS_EXPORTER_OTLP__ENABLED": "true",
            "ACS_EXPORTER_OTLP__ENDPOINT": receiver.url,
            "ACS_EXPORTER_OTLP__INTERVAL": "300ms",
            "ACS_EXPORTER_OTLP__HEADERS": json.dumps({"Authorization": secret}),
        },
    )
    try:
        running.wait_ready()
        deadline = time.monotonic() + 20
        while not any("acs_call_ends_total" in metric_names(r) for r in list(receiver.requests)):
            assert time.monotonic() < deadline, running.log()
            time.sleep(0.1)
    finally:
        assert running.stop() == 0, running.log()
    names = set().union(*(metric_names(r) for r in receiver.requests))
    assert {"acs_call_ends_total", "acs_exporter_build_info", "acs_end_reason_info"} <= names
    assert receiver.headers[-1]["authorization"] == secret
    assert secret not in running.log()


def test_otlp_settings_errors_are_config_errors(tmp_path: Path) -> None:
    running = start([], tmp_path, env={"ACS_EXPORTER_OTLP__INTERVAL": "0s"})
    assert running.process.wait(30) == 2
    assert (
        "environment variable ACS_EXPORTER_OTLP__INTERVAL: otlp.interval = '0s': expected a "
        "duration from 100ms to 1h" in running.log()
    )
