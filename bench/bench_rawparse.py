"""Raw-mode parse cost per row as the response grows: flat, and memory per row.

Raw mode returns one row per record; the source parses the response body (orjson) and counts
the rows by key (client.parse, then LogAnalyticsSource._observations), with the collector
paused (sources/loganalytics/gcpause.py). Measured on response bytes of the shape the service
sends (built here, so the bench needs no server) at 10k, 30k, 100k and 300k rows, with a live
heap like the exporter's (catalog loaded), beside what it cost before (the whole body parsed at
once, the collector running), and the peak memory the parse and count allocate, per row.

Target: per-row cost at 300k rows <= 1.3x that at 30k (flat). Times are the process's CPU time
(one thread does the work), so other processes on a loaded machine weigh less on the figures.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta

import orjson
from tests.sources.loganalytics.fake_server import FakeCredential

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY
from acs_exporter.sources.loganalytics.client import Target, parse
from acs_exporter.sources.loganalytics.gcpause import gc_paused
from acs_exporter.sources.loganalytics.kql import QuerySpec, Window
from acs_exporter.sources.loganalytics.response import check_rows, parse_response
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from acs_exporter.sources.loganalytics.source import Job, JobResult, LogAnalyticsSource
from acs_exporter.sources.loganalytics.timestamps import parse_ticks
from bench.result import Result

SIZES = (10_000, 30_000, 100_000, 300_000)
REPEATS = 9
LABELS = ("call_type", "endpoint_type", "participant_type")
TARGET = Target.workspaces(["bench-0000-0000-0000-000000000000"])
SPEC = QuerySpec(CALL_SUMMARY, "raw", LABELS)
# The window the answer is for: every row's ingestion time (11:00 to 11:59) lies inside it.
WINDOW = Window(parse_ticks("2026-11-25T11:00:00Z") - 1, parse_ticks("2026-11-25T12:00:00Z"))
JOB = Job(SPEC, TARGET, WINDOW)
OUTCOMES = [
    ("0", "0", "Success"),
    ("487", "0", "ExpectedError"),
    ("603", "0", "ExpectedError"),
    ("408", "10057", "UnexpectedClientError"),
    ("500", "560500", "UnexpectedServerError"),
    ("480", "10037", None),
    ("", "0", None),
]


def raw_payload(rows: int) -> bytes:
    """A raw-mode response body of `rows` rows, the columns in the query's order."""
    columns = [{"name": name, "type": "string"} for name in SPEC.result_columns()]
    body = [
        [
            *OUTCOMES[(i * 7919) % len(OUTCOMES)],
            ("P2P", "Group")[i % 2],
            ("VoIP", "PSTN", "Server")[i % 3],
            ("ACS", "Teams")[(i // 3) % 2],
            f"2026-11-25T11:{(i // 6000) % 60:02d}:{(i // 100) % 60:02d}.{i % 10_000_000:07d}Z",
        ]
        for i in range(rows)
    ]
    return orjson.dumps({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": body}]})


def _source() -> LogAnalyticsSource:
    settings = LogAnalyticsSettings(
        type="log_analytics",
        workspace_ids=[TARGET.key.removeprefix("workspace:")],
        endpoint="https://127.0.0.1:9",  # never asked: only the parse and count run
        mode="raw",
        extra_labels=list(LABELS),  # type: ignore[arg-type]
        max_window=timedelta(hours=1),
    )
    return LogAnalyticsSource(settings, credential=FakeCredential())


def _counter(source: LogAnalyticsSource, payload: bytes) -> Callable[[], JobResult]:
    """What the source does: parse (in pieces when large) and count, the collector paused."""

    def count() -> JobResult:
        with gc_paused():
            return source._observations(JOB, parse(payload, where="bench"), WINDOW)

    return count


def _whole_counter(source: LogAnalyticsSource, payload: bytes) -> Callable[[], JobResult]:
    """What it did before: the whole body parsed at once, the collector running."""

    def count() -> JobResult:
        table = parse_response(payload).tables[0]
        check_rows(table)
        return source._observations(JOB, table, WINDOW)

    return count


def _seconds(action: Callable[[], JobResult], rows: int) -> float:
    started = time.process_time()
    result = action()
    elapsed = time.process_time() - started
    assert result.records == rows, result.records
    return elapsed


def _peak_per_row(action: Callable[[], JobResult], rows: int) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        action()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / rows


def _measure() -> dict[int, tuple[float, float, float, int]]:
    """rows -> (s/row now, s/row as before, peak bytes/row now, payload bytes).

    The sizes take turns within each repeat (not one size after another), so a slower or
    faster stretch of a shared machine weighs on every size alike, not on the ratio."""
    source = _source()
    try:
        payloads = {rows: raw_payload(rows) for rows in SIZES}
        actions = {
            rows: (_counter(source, payload), _whole_counter(source, payload))
            for rows, payload in payloads.items()
        }
        times: dict[int, tuple[list[float], list[float]]] = {rows: ([], []) for rows in SIZES}
        for _ in range(REPEATS):
            for rows, (paused, running) in actions.items():
                times[rows][0].append(_seconds(paused, rows))
                times[rows][1].append(_seconds(running, rows))
        return {
            rows: (
                statistics.median(times[rows][0]) / rows,
                statistics.median(times[rows][1]) / rows,
                _peak_per_row(actions[rows][0], rows),
                len(payloads[rows]),
            )
            for rows in SIZES
        }
    finally:
        source.close()


def run() -> list[Result]:
    catalog = load_catalog()  # the exporter's live heap holds it: the collector walks it too
    figures = _measure()
    del catalog
    name = "loganalytics raw parse"
    results = [
        Result(
            name,
            f"{rows:>7,} rows ({size / rows:.0f} B/row of JSON)",
            f"{paused * 1e6:.2f} us/row (before: {running * 1e6:.2f}); "
            f"peak {peak / 1000:.2f} kB/row = {peak * rows / 1e6:.0f} MB",
        )
        for rows, (paused, running, peak, size) in figures.items()
    ]
    ratio = figures[300_000][0] / figures[30_000][0]
    before = figures[300_000][1] / figures[30_000][1]
    results.append(
        Result(
            name,
            "per-row cost, 300k vs 30k rows",
            f"{ratio:.2f}x (before: {before:.2f}x)",
            "<= 1.3x (flat)",
            ratio <= 1.3,
        )
    )
    return results
