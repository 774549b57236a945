"""Log Analytics source speed, against the local HTTPS Log Analytics server.

1. Raw mode end to end on a 100,000-row response: the real LogsQueryClient pipeline over local
   HTTPS -> orjson parse -> observations -> catalog resolution -> aggregation, compared with
   `orjson.loads` of the very same response bytes (target: at most 3x), and with the SDK's own
   `query_workspace` beside it.
2. Aggregated mode: exporter-side time per poll as the calls in the window grow from 1,000 to
   1,000,000 (target: the largest within 2x of the smallest). The server caches each response
   (as Log Analytics does for identical queries), so the query's own run time on the server is
   not counted: what is measured is what the exporter spends.

Needs node and tools/kusto (the server checks every query with the Kusto language service).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from tests.sources.loganalytics.fake_server import FakeCredential, FakeLogAnalytics
from tests.sources.loganalytics.kusto import PACKAGE, KustoChecker
from tests.sources.loganalytics.schemas import TABLES

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, LabelPlan
from acs_exporter.pipeline.aggregate import Resolver, summarise
from acs_exporter.sources.base import Batch
from acs_exporter.sources.loganalytics.kql import timespan
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from acs_exporter.sources.loganalytics.source import LogAnalyticsSource, plan_jobs
from acs_exporter.sources.loganalytics.timestamps import datetime_from_ticks, parse_ticks
from bench.result import Result

WS = "bench-0000-0000-0000-000000000000"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
REPEATS = 9
LABELS = ["call_type", "endpoint_type", "participant_type"]

# (code, subcode, ResultCategory): a realistic spread of end reasons, some junk.
OUTCOMES = [
    ("0", "0", "Success"),
    ("487", "0", "ExpectedError"),
    ("487", "5001", "ExpectedError"),
    ("603", "0", "ExpectedError"),
    ("408", "10057", "UnexpectedClientError"),
    ("410", "3112", "UnexpectedClientError"),
    ("480", "10037", ""),
    ("500", "560500", "UnexpectedServerError"),
    ("503", "560503", "UnexpectedServerError"),
    ("", "0", ""),
]


def _median(action: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _paired_medians(
    first: Callable[[], object], second: Callable[[], object]
) -> tuple[float, float]:
    a: list[float] = []
    b: list[float] = []
    for _ in range(REPEATS):
        for action, times in ((first, a), (second, b)):
            started = time.perf_counter()
            action()
            times.append(time.perf_counter() - started)
    return statistics.median(a), statistics.median(b)


def _fill(server: FakeLogAnalytics, calls: int) -> None:
    """`calls` participant records ingested over the 10 minutes before NOW - 5 min."""
    server.add_workspace(WS)
    columns = [c for c, _ in TABLES["ACSCallSummary"]]
    codes = ", ".join(f"'{c}'" for c, _, _ in OUTCOMES)
    subs = ", ".join(f"'{s}'" for _, s, _ in OUTCOMES)
    cats = ", ".join(f"'{k}'" for _, _, k in OUTCOMES)
    k = len(OUTCOMES)
    end = NOW - timedelta(minutes=5)
    values = {
        "TimeGenerated": f"TIMESTAMP '{end:%Y-%m-%d %H:%M:%S}' - INTERVAL 20 MINUTE",
        "CorrelationId": "'call-' || (i // 2)::VARCHAR",
        "ParticipantId": "'p-' || i::VARCHAR",
        "ParticipantEndReason": f"[{codes}][1 + (i * 7919) % {k}]",
        "ParticipantEndSubCode": f"[{subs}][1 + (i * 7919) % {k}]",
        "ResultCategory": f"[{cats}][1 + (i * 7919) % {k}]",
        "CallType": "['P2P', 'Group'][1 + i % 2]",
        "EndpointType": "['VoIP', 'PSTN', 'Server'][1 + i % 3]",
        "ParticipantType": "['ACS', 'Teams'][1 + (i // 3) % 2]",
    }
    select = ", ".join(values.get(c, "NULL") for c in columns)
    step_us = max(1, 600_000_000 // calls)
    ingested = (
        f"TIMESTAMP '{end:%Y-%m-%d %H:%M:%S}' - INTERVAL 10 MINUTE + to_microseconds(i * {step_us})"
    )
    server.insert_generated(
        WS, "ACSCallSummary", f"SELECT {select}, {ingested} FROM range({calls}) t(i)"
    )


def _source(server: FakeLogAnalytics, mode: str) -> LogAnalyticsSource:
    settings = LogAnalyticsSettings(
        type="log_analytics",
        workspace_ids=[WS],
        endpoint=server.url,
        tls_ca_file=server.ca_file,
        mode=mode,  # type: ignore[arg-type]
        extra_labels=LABELS,  # type: ignore[arg-type]
        max_window=timedelta(hours=1),
        initial_lookback=timedelta(minutes=30),
    )
    return LogAnalyticsSource(settings, credential=FakeCredential(), clock=lambda: NOW)


def _poll(source: LogAnalyticsSource, resolver: Resolver, plan: LabelPlan) -> Batch:
    batch = source.fetch(None)
    summarise(batch, resolver, plan)
    return batch


def _raw_mode(kusto: KustoChecker) -> list[Result]:
    resolver = Resolver(load_catalog())
    plan = LabelPlan(extra_labels=tuple(LABELS))
    with FakeLogAnalytics(kusto, clock=lambda: NOW, cache_responses=True) as server:
        _fill(server, 100_000)
        source = _source(server, "raw")
        try:
            batch = _poll(source, resolver, plan)  # warm: the server caches the response
            rows = sum(o.n for o in batch.of(CALL_SUMMARY))
            assert rows == 100_000, rows
            job = plan_jobs(source.settings, None, NOW)[0]
            lookback = source.settings.time_generated_lookback
            kql = job.table_spec.render(job.window, lookback=lookback)
            span = timespan(job.window, lookback=lookback)
            payload = _raw_bytes(server, kql, span)
            # Interleaved, so a busy machine slows both alike.
            t_orjson, t_e2e = _paired_medians(
                lambda: orjson.loads(payload), lambda: _poll(source, resolver, plan)
            )
            client = source._runner.client
            interval = (
                datetime_from_ticks(parse_ticks(span.split("/")[0])),
                datetime_from_ticks(parse_ticks(span.split("/")[1])),
            )
            client.query_workspace(WS, kql, timespan=interval)  # warm the server's cache
            t_sdk = _median(lambda: client.query_workspace(WS, kql, timespan=interval), repeats=3)
        finally:
            source.close()
    ratio = t_e2e / t_orjson
    name = "loganalytics raw 100k rows"
    return [
        Result(name, "response size", f"{len(payload) / 1e6:.1f} MB, {rows} rows x 7 columns"),
        Result(name, "orjson.loads of the bytes", f"{t_orjson * 1000:.0f} ms"),
        Result(
            name,
            "end to end (pipeline+parse+resolve+aggregate)",
            f"{t_e2e * 1000:.0f} ms = {ratio:.2f}x orjson",
            "<= 3x orjson.loads",
            ratio <= 3,
        ),
        Result(
            name,
            "SDK query_workspace (for comparison)",
            f"{t_sdk * 1000:.0f} ms = {t_sdk / t_orjson:.1f}x orjson",
        ),
    ]


def _raw_bytes(server: FakeLogAnalytics, kql: str, span: str) -> bytes:
    result, _ = server.execute([WS], kql, span)
    return orjson.dumps(result)


def _aggregated_mode(kusto: KustoChecker) -> list[Result]:
    resolver = Resolver(load_catalog())
    plan = LabelPlan(extra_labels=tuple(LABELS))
    name = "loganalytics aggregated"
    timings: dict[int, float] = {}
    rows: dict[int, int] = {}
    for calls in (1_000, 10_000, 100_000, 1_000_000):
        with FakeLogAnalytics(kusto, clock=lambda: NOW, cache_responses=True) as server:
            _fill(server, calls)
            source = _source(server, "aggregated")
            try:
                batch = _poll(source, resolver, plan)  # warm (server runs the query once)
                assert sum(o.n for o in batch.of(CALL_SUMMARY)) == calls
                rows[calls] = len(batch.of(CALL_SUMMARY))
                timings[calls] = _median(lambda: _poll(source, resolver, plan))  # noqa: B023
            finally:
                source.close()
    results = [
        Result(
            name,
            f"per poll, {calls:>9,} calls in the window",
            f"{seconds * 1000:.1f} ms ({rows[calls]} result rows)",
        )
        for calls, seconds in timings.items()
    ]
    spread = timings[1_000_000] / timings[1_000]
    results.append(
        Result(name, "1,000,000 vs 1,000 calls", f"{spread:.2f}x", "<= 2x (flat)", spread <= 2)
    )
    return results


def run() -> list[Result]:
    if not Path(PACKAGE).exists():
        return [
            Result("loganalytics", "skipped", "tools/kusto not installed (make pytest)", "", False)
        ]
    kusto = KustoChecker()
    try:
        return _raw_mode(kusto) + _aggregated_mode(kusto)
    finally:
        kusto.close()
