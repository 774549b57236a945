"""(#13) What the breakdown labels cost: one poll and one scrape at 10,000 series with every
extra label on (call_type, endpoint_type, participant_type, resource, sdk_version, os),
against the same 10,000 series carrying `call_type` alone, in the same run.

A poll is `Exporter.complete_poll` of a batch adding to every series (aggregation, the guard,
the state, the snapshot); a scrape is `render_text` of the snapshot, warm. The targets are
ratios, so a loaded machine moves both sides alike: longer label sets may cost more, within
2x. The Python normalisation of raw values (files, raw queries, the simulator) is shown per
million values, informational.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.breakdowns import os_family, resource_name, sdk_release
from acs_exporter.definitions.tables import CALL_SUMMARY, EXTRA_LABELS, LabelPlan
from acs_exporter.exposition.text import render_text
from acs_exporter.pipeline.daemon import Exporter
from acs_exporter.sources.base import Batch, Observation
from bench.result import Result

SERIES = 10_000
RUNS = 15
TARGET_RATIO = 2.0
CODES = ("0", "480", "487", "490", "500", "503")
OS = ("windows", "macos", "ios", "android", "linux", "other", "unknown")


def _dimensions(i: int, every_label: bool) -> tuple[tuple[str, str], ...]:
    if not every_label:
        return (("call_type", f"type-{i % 50}"),)
    return (
        ("call_type", ("P2P", "Group")[i % 2]),
        ("endpoint_type", ("VoIP", "PSTN", "Server")[i % 3]),
        ("os", OS[i % 7]),
        ("participant_type", ("ACS", "Teams")[i % 2]),
        ("resource", f"acs-prod-{i % 5}"),
        ("sdk_version", f"1.{20 + i % 11}"),
    )


def _batch(every_label: bool, cursor: int) -> Batch:
    observations = [
        Observation(CODES[i % 6], str(10_000 + i // 50), None, _dimensions(i, every_label), 1)
        for i in range(SERIES)
    ]
    return Batch({CALL_SUMMARY: observations}, cursor=cursor, watermark=datetime.now(UTC))


def _median_ms(action: Callable[[], object]) -> float:
    action()  # warm-up
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def _costs(every_label: bool) -> tuple[float, float, int]:
    """(poll ms, scrape ms, series) at SERIES series."""
    labels = EXTRA_LABELS if every_label else ("call_type",)
    exporter = Exporter(
        catalog=load_catalog(),
        source_names=["bench"],
        plan=LabelPlan(extra_labels=labels),
        max_series=SERIES * 2,
    )
    batches = [_batch(every_label, n) for n in range(RUNS + 2)]
    polls = iter(batches)
    exporter.complete_poll("bench", next(polls), 0.01)
    poll_ms = _median_ms(lambda: exporter.complete_poll("bench", next(polls), 0.01))
    scrape_ms = _median_ms(lambda: render_text(exporter.snapshot()))
    return poll_ms, scrape_ms, len(exporter.state.series)


def _normalise_ms() -> float:
    raw = [
        (
            f"/subscriptions/x/providers/Microsoft.Communication/CommunicationServices/ACS-{i % 7}",
            f"1.{i % 13}.{i % 4}",
            ("Windows 10.0.22631", "iOS 17.1", "Android 14")[i % 3],
        )
        for i in range(100_000)
    ]
    started = time.perf_counter()
    for resource, sdk, system in raw:
        resource_name(resource)
        sdk_release(sdk)
        os_family(system)
    return (time.perf_counter() - started) * 10_000  # per million


def run() -> list[Result]:
    base_poll, base_scrape, base_series = _costs(every_label=False)
    poll, scrape, series = _costs(every_label=True)
    rows = []
    for what, ours, base in (("poll", poll, base_poll), ("scrape", scrape, base_scrape)):
        ratio = ours / base
        rows.append(
            Result(
                "breakdowns",
                f"{what}, {series:,} series, every label on vs call_type only "
                f"({ours:.1f} vs {base:.1f} ms, {base_series:,} series)",
                f"{ratio:.2f}x",
                f"<= {TARGET_RATIO:.0f}x",
                ratio <= TARGET_RATIO,
            )
        )
    rows.append(
        Result(
            "breakdowns", "normalise resource+sdk+os, 1M raw records, ms", f"{_normalise_ms():.0f}"
        )
    )
    return rows
