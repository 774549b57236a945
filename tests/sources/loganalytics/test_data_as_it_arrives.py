"""Empty, null and absent subcodes and odd spellings from Log Analytics, raw and aggregated.

Through the real SDK against the local server, then the daemon's aggregation: each record
counts exactly once and gets the labels docs/catalog.md ("Missing subcodes and odd spellings")
promises. String columns of real workspaces come back as "" when unset; the local server also
returns null, so both are fed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.pipeline.aggregate import Resolver, summarise
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from acs_exporter.sources.loganalytics.source import LogAnalyticsSource

from .conftest import Clock
from .fake_server import FakeCredential, FakeLogAnalytics
from .test_source import WS, call, start


@pytest.fixture
def source_of(server: FakeLogAnalytics, clock: Clock) -> Iterator[Any]:
    made: list[LogAnalyticsSource] = []

    def factory(mode: str) -> LogAnalyticsSource:
        settings = LogAnalyticsSettings(
            type="log_analytics",
            workspace_ids=[WS],
            endpoint=server.url,
            tls_ca_file=server.ca_file,
            safety_lag=timedelta(minutes=2),
            poll_interval=timedelta(seconds=60),
            max_window=timedelta(hours=1),
            mode=mode,
            tables=["ACSCallSummary", "ACSCallAutomationMediaSummary"],
        )
        made.append(LogAnalyticsSource(settings, credential=FakeCredential(), clock=clock))
        return made[-1]

    yield factory
    for source in made:
        source.close()


# (ParticipantEndReason, ParticipantEndSubCode, ResultCategory, times) -> labels
CALL_ENDS: list[tuple[Any, Any, Any, int, tuple[str, str, str]]] = [
    ("0", "", "Success", 5, ("0", "none", "Success")),
    ("0", None, "Success", 4, ("0", "none", "Success")),
    ("0", "", "", 3, ("0", "none", "Success")),
    ("0", None, None, 2, ("0", "none", "Success")),
    ("0", " ", "expectedError", 3, ("0", "none", "ExpectedError")),
    ("0", "", "unexpectedServerError", 2, ("0", "none", "UnexpectedServerError")),
    ("500", "", "", 6, ("500", "none", "UnexpectedServerError")),
    (" 487", "10004 ", "EXPECTEDERROR", 2, ("487", "10004", "ExpectedError")),
    ("487", "10004", "ExpectedError", 1, ("487", "10004", "ExpectedError")),
    ("0", "x1", "", 1, ("0", "malformed", "Unknown")),
    ("", "", "", 2, ("malformed", "none", "Unknown")),
]


@pytest.mark.parametrize("mode", ["aggregated", "raw"])
def test_missing_subcodes_and_odd_spellings_count_once_with_their_labels(
    server: FakeLogAnalytics, clock: Clock, source_of: Any, mode: str
) -> None:
    server.add_workspace(WS)
    source = source_of(mode)
    cursor = start(source)
    t0 = clock.now
    records = [
        call(t0 + timedelta(milliseconds=10 * i + j), code=code, sub=sub, cat=cat)
        for i, (code, sub, cat, times, _) in enumerate(CALL_ENDS)
        for j in range(times)
    ]
    server.add_records(WS, "ACSCallSummary", records)
    media = {"TimeGenerated": t0, "OperationName": "Recognize", "ResultCode": 200}
    server.add_records(
        WS,
        "ACSCallAutomationMediaSummary",
        [media | {"_IngestedAt": t0 + timedelta(seconds=1)}] * 2,  # ResultSubcode null
    )
    clock.advance(timedelta(minutes=5))
    batch = source.fetch(cursor)
    delta = summarise(batch, Resolver(load_catalog()), LabelPlan())
    calls: Counter[tuple[str, str, str]] = Counter()
    results: Counter[tuple[str, str, str]] = Counter()
    for (family, code, subcode, category, _), n in delta.series.items():
        (calls if family == "call_ends" else results)[(code, subcode, category)] += n
    expected: Counter[tuple[str, str, str]] = Counter()
    for *_, times, labels in CALL_ENDS:
        expected[labels] += times
    assert calls == expected
    assert results == Counter({("200", "none", "Success"): 2})
    assert delta.records_read == len(records) + 2
    assert delta.malformed == 3
    assert delta.unknown == 3
