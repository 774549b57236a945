"""The fast renderer writes exactly what prometheus_client's encoders write for the collector."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, MEDIA_SUMMARY, LabelPlan
from acs_exporter.exposition.collector import SnapshotCollector
from acs_exporter.exposition.snapshot import Family, Snapshot
from acs_exporter.exposition.text import render_openmetrics, render_text
from acs_exporter.pipeline.daemon import Exporter
from acs_exporter.sources.base import Batch, Observation

NOW = 1_800_000_000.0


def snapshot() -> Snapshot:
    exporter = Exporter(
        catalog=load_catalog(),
        source_names=["a", "b"],
        plan=LabelPlan(extra_labels=("call_type", "endpoint_type")),
        max_series=5,
    )
    exporter.complete_poll(
        "a",
        Batch(
            {
                CALL_SUMMARY: [
                    Observation("0", "0", None, (("call_type", "P2P"),), 3),
                    Observation("487", "10003", None, (("call_type", 'we"ird\\\n'),), 2_000_000),
                    Observation("abc", None),
                    *(Observation("480", str(i)) for i in range(10)),  # some fold
                ],
                MEDIA_SUMMARY: [Observation("8500", "0", None, (("operation", "Play"),))],
            },
            rejected={"invalid_json": 1},
            cursor=1,
            watermark=datetime.fromtimestamp(NOW - 125.5, UTC),
        ),
        0.2,
    )
    exporter.fail_poll("b", "throttled", "429", 31.0)
    extra = Family(
        "acs_test_help",
        'Help with a backslash \\ a "quote" and a\nnewline.',
        "gauge",
        (),
        (((), float("nan")),),
    )
    return Snapshot((*exporter.snapshot().families, extra))


def reference(snap: Snapshot) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(lambda: snap, clock=lambda: NOW))
    return registry


def test_text_format_is_byte_identical() -> None:
    snap = snapshot()
    assert render_text(snap, NOW).encode() == generate_latest(reference(snap))


def test_openmetrics_is_byte_identical() -> None:
    snap = snapshot()
    expected = generate_openmetrics(reference(snap))
    assert render_openmetrics(snap, NOW).encode() + b"# EOF\n" == expected


def test_catalog_info_series_are_rendered() -> None:
    snap = snapshot()
    text = render_text(snap, NOW)
    (info,) = [f for f in snap.families if f.name == "acs_end_reason_info"]
    assert text.count("\nacs_end_reason_info{") == len(info.samples)
    # One row per (domain, code, subcode), and one for every pair the counters serve.
    keys = [(labels[3], labels[0], labels[1]) for labels, _ in info.samples]
    assert len(keys) == len(set(keys))
    views = {"acs_call_ends": "call-end", "acs_call_automation_media_results": "call-automation"}
    for family in snap.families:
        if family.name in views:
            for labels, _ in family.samples:
                assert (views[family.name], labels[0], labels[1]) in keys, labels
    # past max_series the guard folds the new subcodes of 480 alone (guard.py)
    assert ("call-end", "480", "other") in keys
    assert ("call-end", "malformed", "none") in keys


def test_openmetrics_output_passes_the_strict_parser() -> None:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    text = render_openmetrics(snapshot(), NOW) + "# EOF\n"
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"acs_call_ends", "acs_end_reason_info", "acs_exporter_poll_duration_seconds"} <= names


def test_every_value_and_label_shape_is_written_as_prometheus_client_writes_it() -> None:
    """The renderer formats a family's values in bulk when they all allow it (finite, within
    +-1e6): one value outside that range, or one label needing escapes, anywhere in a family,
    must still be written as prometheus_client writes it."""
    in_range = [0, 3, -0.0, 0.5, 999_999.0, -999_999.5, 1 / 3]
    out_of_range = [1e6, 1.5e7, 123_456_789.0, -2e6, float("inf"), float("-inf"), float("nan")]
    families = []
    for name, values in (("acs_test_in_range", in_range), ("acs_test_mixed", out_of_range)):
        samples = tuple(
            ((f"v{i}", 'q"uo\\te\n' if i == 3 else "plain"), value)
            for i, value in enumerate([*in_range, *values] if values is out_of_range else values)
        )
        families.append(Family(name, "Shapes.", "gauge", ("zeta", "alpha"), samples))
    snap = Snapshot(tuple(families))
    assert render_text(snap, NOW).encode() == generate_latest(reference(snap))
    expected = generate_openmetrics(reference(snap))
    assert render_openmetrics(snap, NOW).encode() + b"# EOF\n" == expected
