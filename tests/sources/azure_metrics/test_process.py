"""The real `acs-exporter run` process with an azure_metrics source: readiness, self-metrics,
catalog enrichment and the two families, as a scrape shows them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from support.daemon_helpers import Running, killed_if_left_running, samples, start, wait_for

from .conftest import ACS1, ACS2, EVENTS, REQUESTS
from .fake_server import FakeAzureMetrics, minute_of

pytestmark = pytest.mark.e2e


def _listening(running: Running) -> bool:
    try:
        return running.get("/healthz")[0] == 200
    except OSError:
        return False


def test_ready_after_the_service_answered_for_every_resource_then_enriched_counts(
    tmp_path: Path, az_env: dict[str, str]
) -> None:
    with FakeAzureMetrics() as server:
        minute = minute_of(datetime.now(UTC)) - timedelta(minutes=10)
        # 8523: a documented Call Automation row (an invalid request body).
        server.add(
            ACS1,
            EVENTS,
            {"EventTypeName": "PlayFailed", "Code": "400", "SubCode": "8523"},
            minute,
            4,
        )
        server.add(
            ACS1,
            REQUESTS,
            {"Operation": "Play", "StatusCode": "202", "StatusCodeClass": "2xx"},
            minute,
            6,
        )
        server.gone.add(ACS2.lower())  # deleted, or not in this region
        config = {
            "log": {"format": "json", "level": "info"},
            "state": {"path": str(tmp_path / "checkpoint.json")},
            "sources": [
                {
                    "type": "azure_metrics",
                    "name": "metrics",
                    "resource_ids": [ACS1, ACS2],
                    "endpoint": server.url,
                    "tls_ca_file": str(server.ca_file),
                    "poll_interval": "200ms",
                    "initial_lookback": "30m",
                }
            ],
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        with killed_if_left_running(
            start(["--config.file", str(path)], tmp_path, env=az_env)
        ) as running:
            wait_for(lambda: _listening(running), "the server", running)

            def errors() -> float:
                found = samples(running.metrics(), "acs_exporter_query_errors_total")
                return found.get((("reason", "resource_error"), ("source", "metrics")), 0.0)

            wait_for(lambda: errors() >= 1, "a resource_error", running)
            status, text = running.get("/readyz")
            assert status == 503, text
            scraped = running.metrics()
            assert samples(scraped, "acs_exporter_source_up") == {(("source", "metrics"),): 0.0}
            rejected = samples(scraped, "acs_exporter_records_rejected_total")
            for reason in ("missing_dimension", "invalid_value"):
                assert rejected[(("reason", reason), ("source", "metrics"))] == 0.0
            assert not samples(scraped, "acs_call_automation_events_total")  # nothing counted

            server.gone.clear()  # the resource is back (or removed from the list)
            wait_for(lambda: running.get("/readyz")[0] == 200, "ready", running)
            scraped = running.metrics()
            events = samples(scraped, "acs_call_automation_events_total")
            assert events == {
                (
                    ("category", "UnexpectedClientError"),
                    ("code", "400"),
                    ("event_type", "PlayFailed"),
                    ("resource", "acs-one"),
                    ("subcode", "8523"),
                ): 4.0
            }
            requests = samples(scraped, "acs_call_automation_api_requests_total")
            assert requests == {
                (
                    ("category", "Success"),
                    ("code", "202"),
                    ("operation", "Play"),
                    ("resource", "acs-one"),
                    ("status_class", "2xx"),
                    ("subcode", "none"),
                ): 6.0
            }
            info = samples(scraped, "acs_end_reason_info")
            assert any(
                dict(k).get("code") == "400"
                and dict(k).get("subcode") == "8523"
                and dict(k).get("domain") == "call-automation"
                for k in info
            ), "acs_end_reason_info has no row to join the event on"
            assert running.stop() == 0, running.log()
