"""`otlp.enabled`: the real process pushes the same metrics to a local OTLP/HTTP receiver."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from daemon_helpers import start
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

pytestmark = pytest.mark.e2e


class Received:
    def __init__(self) -> None:
        self.requests: list[ExportMetricsServiceRequest] = []
        self.headers: list[dict[str, str]] = []


@pytest.fixture
def receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            request = ExportMetricsServiceRequest()
            request.ParseFromString(body)
            received.requests.append(request)
            received.headers.append({k.lower(): v for k, v in self.headers.items()})
            reply = ExportMetricsServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/metrics", received
    finally:
        server.shutdown()
        server.server_close()


def metric_names(request: ExportMetricsServiceRequest) -> set[str]:
    return {
        metric.name
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


def test_the_running_exporter_pushes_over_otlp(
    tmp_path: Path, receiver: tuple[str, Received]
) -> None:
    url, received = receiver
    secret = "Bearer otlp-secret-token"
    running = start(
        [],
        tmp_path,
        env={
            "ACS_EXPORTER_OTLP__ENABLED": "true",
            "ACS_EXPORTER_OTLP__ENDPOINT": url,
            "ACS_EXPORTER_OTLP__INTERVAL": "300ms",
            "ACS_EXPORTER_OTLP__HEADERS": json.dumps({"Authorization": secret}),
        },
    )
    try:
        running.wait_ready()
        deadline = time.monotonic() + 20
        while not any("acs_call_ends_total" in metric_names(r) for r in list(received.requests)):
            assert time.monotonic() < deadline, running.log()
            time.sleep(0.1)
    finally:
        assert running.stop() == 0, running.log()
    names = set().union(*(metric_names(r) for r in received.requests))
    assert {"acs_call_ends_total", "acs_exporter_build_info", "acs_end_reason_info"} <= names
    assert received.headers[-1]["authorization"] == secret
    assert secret not in running.log()


def test_otlp_settings_errors_are_config_errors(tmp_path: Path) -> None:
    running = start([], tmp_path, env={"ACS_EXPORTER_OTLP__INTERVAL": "0s"})
    assert running.process.wait(30) == 2
    assert (
        "environment variable ACS_EXPORTER_OTLP__INTERVAL: otlp.interval = '0s': expected a "
        "positive duration" in running.log()
    )
