"""(2) `/metrics` render time with 10,000 outcome series.

Our path (what `/metrics` runs: the exporter's current snapshot through `exposition.render_text`,
whose output is tested byte-identical to prometheus_client's encoder over `SnapshotCollector`)
against prometheus_client's own `Counter` holding the same 10,000 label sets, rendered by
prometheus_client's encoder, in the same run. Ours is also measured cold (the first render of
a new snapshot; the renderer keeps no per-series cache since #12's memory target, so it is the
same path). The Counter is measured twice: as shipped (it also writes a
`_created` sample per series) and with `_created` switched off, the stricter comparison; the
target applies to the stricter one. Medians of repeated renders after a warm-up.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, generate_latest

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, LabelPlan
from acs_exporter.exposition.collector import SnapshotCollector
from acs_exporter.exposition.rendered import RenderedSnapshots
from acs_exporter.exposition.snapshot import Snapshot
from acs_exporter.exposition.text import render_openmetrics, render_text
from acs_exporter.pipeline.daemon import Exporter
from acs_exporter.sources.base import Batch, Observation
from bench.result import Result

SERIES = 10_000
RUNS = 30
TARGET_MS = 50.0
CALL_TYPES = ("P2P", "Group")


def observations(series: int = SERIES) -> list[Observation]:
    out = []
    for i in range(series):
        code = ("0", "480", "487", "490", "500", "503")[i % 6]
        out.append(
            Observation(
                code, str(10_000 + i // 2), None, (("call_type", CALL_TYPES[i % 2]),), 1 + i
            )
        )
    return out


def our_registry(series: int = SERIES) -> tuple[CollectorRegistry, Exporter]:
    exporter = Exporter(
        catalog=load_catalog(),
        source_names=["bench"],
        plan=LabelPlan(extra_labels=("call_type",)),
        max_series=series,
    )
    batch = Batch({CALL_SUMMARY: observations(series)}, cursor=1, watermark=datetime.now(UTC))
    exporter.complete_poll("bench", batch, 0.01)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(exporter.snapshot))
    return registry, exporter


def counter_registry(exporter: Exporter | Snapshot) -> CollectorRegistry:
    snapshot = exporter if isinstance(exporter, Snapshot) else exporter.snapshot()
    registry = CollectorRegistry(auto_describe=False)
    counter = Counter(
        "acs_call_ends",
        "Participant call ends by end reason.",
        ("code", "subcode", "category", "call_type"),
        registry=registry,
    )
    for family in snapshot.families:
        if family.name == "acs_call_ends":
            for labels, value in family.samples:
                counter.labels(*labels).inc(float(value))  # type: ignore[arg-type]
    return registry


def median_ms(render: Callable[[], bytes], runs: int = RUNS) -> tuple[float, int]:
    size = len(render())  # warm-up
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        render()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000, size


def cold_text(exporter: Exporter) -> bytes:
    # Nothing is cached per series any more (text.py), so a cold render is any render.
    return render_text(Snapshot(exporter.snapshot().families)).encode()


def first_gzip_scrape(exporter: Exporter) -> bytes:
    """What the first gzip scrape of a new snapshot costs /metrics (later scrapes of it send
    the cached bytes, bench_scrape): render and compress."""
    snapshot = Snapshot(exporter.snapshot().families)  # a new snapshot, same series
    return b"".join(RenderedSnapshots(lambda: snapshot).body("text", True))


def run() -> list[Result]:
    reference, exporter = our_registry()
    counter = counter_registry(exporter)
    ours_ms, ours_size = median_ms(lambda: render_text(exporter.snapshot()).encode())
    cold_ms, _ = median_ms(lambda: cold_text(exporter))
    ours_om_ms, _ = median_ms(lambda: render_openmetrics(exporter.snapshot()).encode())
    first_ms, first_size = median_ms(lambda: first_gzip_scrape(exporter))
    collector_ms, _ = median_ms(lambda: generate_latest(reference))
    default_ms, default_size = median_ms(lambda: generate_latest(counter))
    # prometheus_client leaves these two unannotated.
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    try:
        strict_ms, strict_size = median_ms(lambda: generate_latest(counter))
    finally:
        prometheus_client.enable_created_metrics()  # type: ignore[no-untyped-call]
    rows = [
        Result(
            "render",
            f"/metrics text format, {SERIES:,} series, median ms ({ours_size:,} bytes)",
            f"{ours_ms:.1f}",
            f"<= {TARGET_MS:.0f}",
            ours_ms <= TARGET_MS,
        ),
        Result(
            "render",
            f"prometheus_client Counter, _created off, same series, median ms "
            f"({strict_size:,} bytes)",
            f"{strict_ms:.1f}",
            "ours no slower",
            ours_ms <= strict_ms,
        ),
        Result(
            "render",
            f"prometheus_client Counter as shipped (+_created), median ms ({default_size:,} bytes)",
            f"{default_ms:.1f}",
            "ours no slower",
            ours_ms <= default_ms,
        ),
        Result(
            "render",
            "/metrics text format, cold (first render of a new snapshot), median ms",
            f"{cold_ms:.1f}",
            f"<= {TARGET_MS:.0f}",
            cold_ms <= TARGET_MS,
        ),
        Result(
            "render",
            f"first gzip scrape of a new snapshot (render + gzip, {first_size:,} bytes), median ms",
            f"{first_ms:.1f}",
            f"<= {TARGET_MS:.0f}",
            first_ms <= TARGET_MS,
        ),
        Result("render", "/metrics OpenMetrics format, median ms", f"{ours_om_ms:.1f}"),
        Result(
            "render",
            "SnapshotCollector through prometheus_client's encoder, median ms",
            f"{collector_ms:.1f}",
        ),
    ]
    return rows
