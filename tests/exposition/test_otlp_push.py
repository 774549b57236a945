"""OTLP push round trip: the real SDK exporter against a local receiver decoding the protobuf."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric

from acs_exporter.exposition.otlp import OtlpPusher, otel_name
from acs_exporter.exposition.snapshot import Family, HistogramValue, Snapshot
from support.otlp_receiver import Receiver, otlp_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as state:
        yield state


CALL_ENDS = Family(
    name="acs_call_ends",
    documentation="Participant call ends (ACSCallSummary rows) by end reason.",
    kind="counter",
    label_names=("code", "subcode", "category"),
    samples=(
        (("0", "0", "Success"), 120.0),
        (("500", "9001", "UnexpectedServerError"), 3.0),
        (("malformed", "malformed", "Unknown"), 1.0),
    ),
)
SOURCE_UP = Family(
    name="acs_exporter_source_up",
    documentation="1 when the last poll of the source succeeded.",
    kind="gauge",
    label_names=("source",),
    samples=((("simulator",), 1.0),),
)
BUILD_INFO = Family(
    name="acs_exporter_build",
    documentation="Build information.",
    kind="info",
    label_names=("version", "python_version"),
    samples=((("0.1.0", "3.11.2"), 1.0),),
)
POLL_DURATION = Family(
    name="acs_exporter_poll_duration_seconds",
    documentation="Time spent in one poll.",
    kind="histogram",
    label_names=("source",),
    samples=((("simulator",), HistogramValue(((0.1, 3), (float("inf"), 4)), 0.5, 4)),),
)


def metrics_of(request: ExportMetricsServiceRequest) -> dict[str, Metric]:
    out = {}
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                out[metric.name] = metric
    return out


def points(metric: Metric) -> dict[tuple[tuple[str, str], ...], float]:
    data = metric.sum.data_points if metric.HasField("sum") else metric.gauge.data_points
    out = {}
    for point in data:
        labels = tuple(sorted((a.key, a.value.string_value) for a in point.attributes))
        out[labels] = point.as_double if point.HasField("as_double") else float(point.as_int)
    return out


def test_round_trip_names_labels_and_values(receiver: Receiver) -> None:
    snapshot = Snapshot((CALL_ENDS, SOURCE_UP, BUILD_INFO, POLL_DURATION))
    pusher = OtlpPusher(
        lambda: snapshot,
        endpoint=receiver.url,
        interval_seconds=60,
        headers={"Authorization": "Bearer s3cret"},
        timeout_seconds=5,
    )
    pusher.push_now()
    receiver.wait(1)
    request = receiver.requests[0]
    assert receiver.paths == ["/v1/metrics"]
    assert receiver.headers[0]["authorization"] == "Bearer s3cret"
    resource = {
        a.key: a.value.string_value for a in request.resource_metrics[0].resource.attributes
    }
    assert resource["service.name"] == "acs-exporter"

    metrics = metrics_of(request)
    assert set(metrics) == {
        "acs_call_ends_total",
        "acs_exporter_source_up",
        "acs_exporter_build_info",
    }

    calls = metrics["acs_call_ends_total"]
    assert calls.HasField("sum")
    assert calls.sum.is_monotonic
    assert (
        calls.sum.aggregation_temporality
        == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    )
    assert calls.description == CALL_ENDS.documentation
    assert calls.unit == ""
    assert points(calls) == {
        (("category", "Success"), ("code", "0"), ("subcode", "0")): 120.0,
        (("category", "UnexpectedServerError"), ("code", "500"), ("subcode", "9001")): 3.0,
        (("category", "Unknown"), ("code", "malformed"), ("subcode", "malformed")): 1.0,
    }
    assert metrics["acs_exporter_source_up"].HasField("gauge")
    assert points(metrics["acs_exporter_source_up"]) == {(("source", "simulator"),): 1.0}
    assert points(metrics["acs_exporter_build_info"]) == {
        (("python_version", "3.11.2"), ("version", "0.1.0")): 1.0
    }
    pusher.shutdown()


def test_callbacks_read_the_current_snapshot_and_new_families(receiver: Receiver) -> None:
    current = [Snapshot((CALL_ENDS,))]
    pusher = OtlpPusher(lambda: current[0], endpoint=receiver.url, interval_seconds=60, headers={})
    pusher.push_now()
    receiver.wait(1)
    grown = Family(
        CALL_ENDS.name,
        CALL_ENDS.documentation,
        "counter",
        CALL_ENDS.label_names,
        ((("0", "0", "Success"), 150.0), (("487", "0", "Success"), 7.0)),
    )
    current[0] = Snapshot((grown, SOURCE_UP))
    pusher.shutdown()  # pushes the final values once
    receiver.wait(2)
    metrics = metrics_of(receiver.requests[1])
    assert points(metrics["acs_call_ends_total"]) == {
        (("category", "Success"), ("code", "0"), ("subcode", "0")): 150.0,
        (("category", "Success"), ("code", "487"), ("subcode", "0")): 7.0,
    }
    assert points(metrics["acs_exporter_source_up"]) == {(("source", "simulator"),): 1.0}


def test_pushes_on_its_interval_and_stops(receiver: Receiver) -> None:
    pusher = OtlpPusher(
        lambda: Snapshot((CALL_ENDS,)), endpoint=receiver.url, interval_seconds=0.2, headers={}
    )
    pusher.start()
    receiver.wait(2)
    pusher.shutdown()
    count = len(receiver.requests)
    time.sleep(0.5)
    assert len(receiver.requests) == count
    pusher.shutdown()  # twice is harmless


def test_many_series_are_not_folded_by_the_sdk(receiver: Receiver) -> None:
    family = Family(
        "acs_call_ends",
        "Participant call ends.",
        "counter",
        ("code", "subcode", "category"),
        tuple(((str(400 + i % 100), str(i), "Unknown"), float(i)) for i in range(5000)),
    )
    pusher = OtlpPusher(
        lambda: Snapshot((family,)), endpoint=receiver.url, interval_seconds=60, headers={}
    )
    pusher.push_now()
    receiver.wait(1)
    pusher.shutdown()
    got = sum(len(points(m)) for r in receiver.requests[:1] for m in metrics_of(r).values())
    assert got == 5000


def test_unreachable_endpoint_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    pusher = OtlpPusher(
        lambda: Snapshot((CALL_ENDS,)),
        endpoint="http://127.0.0.1:9/v1/metrics",  # discard port: nothing listens
        interval_seconds=60,
        headers={},
        timeout_seconds=1,
    )
    with caplog.at_level(logging.WARNING):
        pusher.push_now()
        pusher.shutdown()
    assert any("Failed to export" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("kind", "name", "expected"),
    [
        ("counter", "acs_call_ends", "acs_call_ends_total"),
        ("counter", "acs_call_ends_total", "acs_call_ends_total"),
        ("gauge", "acs_exporter_cursor_lag_seconds", "acs_exporter_cursor_lag_seconds"),
        ("info", "acs_end_reason", "acs_end_reason_info"),
        ("info", "acs_end_reason_info", "acs_end_reason_info"),
        ("histogram", "acs_exporter_poll_duration_seconds", None),
    ],
)
def test_name_mapping(kind: str, name: str, expected: str | None) -> None:
    family = Family(name, "", kind, (), ())  # type: ignore[arg-type]
    assert otel_name(family) == expected


def test_rejects_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="interval"):
        OtlpPusher(Snapshot, endpoint="http://127.0.0.1:1", interval_seconds=0, headers={})


def test_cursor_lag_is_computed_at_push_time(receiver: Receiver) -> None:
    stamps = Family(
        "acs_exporter_cursor_timestamp_seconds",
        "How far the source has been read.",
        "gauge",
        ("source",),
        ((("simulator",), 1000.0),),
    )
    stale_lag = Family(
        "acs_exporter_cursor_lag_seconds", "Now minus the cursor.", "gauge", ("source",), ()
    )
    pusher = OtlpPusher(
        lambda: Snapshot((stamps, stale_lag)),
        endpoint=receiver.url,
        interval_seconds=60,
        headers={},
        clock=lambda: 1042.5,
    )
    pusher.push_now()
    receiver.wait(1)
    pusher.shutdown()
    metrics = metrics_of(receiver.requests[0])
    assert points(metrics["acs_exporter_cursor_lag_seconds"]) == {(("source", "simulator"),): 42.5}


def test_standard_environment_variables_apply(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Documented: compression and TLS files come from the standard OTEL_EXPORTER_OTLP_* variables.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    pusher = OtlpPusher(
        lambda: Snapshot((CALL_ENDS,)), endpoint=receiver.url, interval_seconds=60, headers={}
    )
    pusher.push_now()
    receiver.wait(1)
    pusher.shutdown()
    assert receiver.headers[0]["content-encoding"] == "gzip"
    assert "acs_call_ends_total" in metrics_of(receiver.requests[0])


def test_a_real_exporter_snapshot_is_pushed_under_the_names_metric_defs_declares(
    receiver: Receiver,
) -> None:
    """OTLP and /metrics use the same names: every family of metric_defs but the histogram
    (not pushed, see otlp.py), each under its sample name, with its help as description."""
    from datetime import UTC, datetime

    from acs_exporter.catalog import load_catalog
    from acs_exporter.definitions.metrics import ALL, AZURE_BLOB_ONLY, DISCOVERY_ONLY
    from acs_exporter.definitions.tables import (
        CALL_AUTOMATION_API_REQUESTS,
        CALL_AUTOMATION_EVENTS,
        CALL_SUMMARY,
        MEDIA_SUMMARY,
        LabelPlan,
    )
    from acs_exporter.pipeline.daemon import Exporter
    from acs_exporter.sources.base import Batch, Observation

    exporter = Exporter(
        catalog=load_catalog(), source_names=["a", "b"], plan=LabelPlan(extra_labels=())
    )
    batch = Batch(
        # 487/10003 is documented as Success; the service's verdict disagrees (so the
        # disagreement counter has a point: OTLP sends no metric without one).
        {
            CALL_SUMMARY: [
                Observation("0", "0"),
                Observation("487", "10003", "UnexpectedServerError"),
            ],
            MEDIA_SUMMARY: [Observation("8500", "0", None, (("operation", "Play"),))],
            CALL_AUTOMATION_EVENTS: [
                Observation("400", "8523", None, (("event_type", "PlayFailed"), ("resource", "r")))
            ],
            CALL_AUTOMATION_API_REQUESTS: [
                Observation(
                    "202",
                    None,
                    None,
                    (("operation", "Play"), ("resource", "r"), ("status_class", "2xx")),
                )
            ],
        },
        cursor=1,
        watermark=datetime.now(UTC),
    )
    exporter.complete_poll("a", batch, 0.1)
    pusher = OtlpPusher(
        exporter.snapshot, endpoint=receiver.url, interval_seconds=60, headers={}, timeout_seconds=5
    )
    pusher.push_now()
    receiver.wait(1)
    metrics = metrics_of(receiver.requests[0])
    # Neither histograms nor the shared-state families (state.backend azure_blob only).
    conditional = (*AZURE_BLOB_ONLY, *DISCOVERY_ONLY)
    pushed = [m for m in ALL if m.kind != "histogram" and m not in conditional]
    assert set(metrics) == {m.sample for m in pushed}
    for metric in pushed:
        assert metrics[metric.sample].description == metric.help, metric.name
