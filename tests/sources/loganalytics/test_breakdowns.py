"""The breakdown labels come out the same from every source kind, with exact counts.

The shared table of raw values (tests/support/breakdown_cases.py) is written as ACSCallSummary
rows into a local Log Analytics (queries checked by Microsoft's Kusto language service, run on
duckdb-kql), as diagnostic-settings JSON lines, as a portal CSV export and as a saved query
result. The aggregated query (the KQL rules), the raw query and the three files (the Python
rules) must all give each record exactly its expected label, and the same counts.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from acs_exporter.definitions.tables import CALL_SUMMARY, MEDIA_SUMMARY, LabelPlan
from acs_exporter.sources.base import Batch
from acs_exporter.sources.files.settings import FilesSettings
from acs_exporter.sources.files.source import FilesSource
from support.breakdown_cases import CASES, COLUMNS, PROPERTIES

from .conftest import WS, Clock, Factory
from .fake_server import FakeLogAnalytics
from .kusto import KustoChecker
from .test_source import start

LABELS = ("resource", "sdk_version", "os")
# Each case is its own end code, repeated (case number + 1) times: counts tell cases apart.
Expected = Counter[tuple[str, tuple[tuple[str, str], ...]]]


def _code(number: int) -> str:
    return str(1000 + number)


def _records() -> list[dict[str, Any]]:
    """One ACSCallSummary record per (case, repeat): the case's column raw, the others
    missing (so each record also checks the other two labels' missing value)."""
    rows = []
    for number, (label, raw, _) in enumerate(CASES):
        row: dict[str, Any] = {"ParticipantEndReason": _code(number), "ParticipantEndSubCode": "0"}
        row[COLUMNS[label]] = raw
        rows += [row] * (number + 1)
    return rows


def _expected() -> Expected:
    counts: Expected = Counter()
    for number, (label, _, value) in enumerate(CASES):
        dims = {other: "unknown" for other in LABELS} | {label: value}
        counts[_code(number), tuple(sorted(dims.items()))] += number + 1
    return counts


def _seen(batch: Batch) -> Expected:
    counts: Expected = Counter()
    for obs in batch.of(CALL_SUMMARY):
        dims = tuple((k, v) for k, v in obs.dimensions if k in LABELS)
        counts[str(obs.code), dims] += obs.n
    return counts


@pytest.mark.parametrize("mode", ["aggregated", "raw"])
def test_log_analytics_gives_the_shared_labels_and_counts(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory, mode: str
) -> None:
    server.add_workspace(WS)
    source = make_source(mode=mode, plan=LabelPlan(LABELS))
    cursor = start(source)
    t0 = clock.now
    rows = [
        row | {"TimeGenerated": t0, "_IngestedAt": t0 + timedelta(milliseconds=i)}
        for i, row in enumerate(_records())
    ]
    server.add_records(WS, "ACSCallSummary", rows)
    clock.advance(timedelta(minutes=5))
    batch = source.fetch(cursor)
    assert _seen(batch) == _expected()
    if mode == "aggregated":  # one row per series: the KQL did the normalising
        assert len(batch.of(CALL_SUMMARY)) == len(CASES)


def _jsonl(path: Path) -> Path:
    with path.open("w") as out:
        for row in _records():
            properties = {k[0].lower() + k[1:]: v for k, v in row.items() if k != "_ResourceId"}
            record: dict[str, Any] = {"category": "CallSummary", "properties": properties}
            if "_ResourceId" in row:
                record[PROPERTIES["resource"]] = row["_ResourceId"]
            out.write(json.dumps(record) + "\n")
    return path


def _csv(path: Path) -> Path:
    header = ["ParticipantEndReason", "ParticipantEndSubCode", *COLUMNS.values()]
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for row in _records():
            writer.writerow(["" if row.get(c) is None else row[c] for c in header])
    return path


def _saved_result(path: Path) -> Path:
    header = ["ParticipantEndReason", "ParticipantEndSubCode", *COLUMNS.values(), "Type"]
    rows = [[row.get(c) for c in header[:-1]] + ["ACSCallSummary"] for row in _records()]
    columns = [{"name": c, "type": "string"} for c in header]
    document = {"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]}
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("write", [_jsonl, _csv, _saved_result], ids=["jsonl", "csv", "la-json"])
def test_every_file_format_gives_the_shared_labels_and_counts(tmp_path: Path, write: Any) -> None:
    path = write(tmp_path / f"export.{write.__name__}")
    model = FilesSettings.model_validate({"type": "files", "paths": [str(path)]})
    source = FilesSource(
        model.model_copy(
            update={"poll_interval": timedelta(0), "unterminated_line_timeout": timedelta(0)}
        )
    )
    batch = source.fetch(None)
    source.close()
    assert batch.rejected == {}
    assert _seen(batch) == _expected()


def test_a_file_without_the_columns_labels_them_unknown(tmp_path: Path) -> None:
    """A CSV with no SdkVersion, OsVersion or _ResourceId column: the labels are `unknown`, as
    the query gives a column that is empty, never missing."""
    path = tmp_path / "old.csv"
    path.write_text("ParticipantEndReason,ParticipantEndSubCode\n0,0\n0,0\n")
    model = FilesSettings.model_validate({"type": "files", "paths": [str(path)]})
    source = FilesSource(model.model_copy(update={"poll_interval": timedelta(0)}))
    batch = source.fetch(None)
    source.close()
    assert _seen(batch) == Counter(
        {("0", (("os", "unknown"), ("resource", "unknown"), ("sdk_version", "unknown"))): 2}
    )


@pytest.mark.parametrize("mode", ["aggregated", "raw"])
def test_every_breakdown_query_is_valid_kusto(kusto: KustoChecker, mode: Any) -> None:
    from acs_exporter.sources.loganalytics.kql import QuerySpec, Window

    window = Window.from_text("2026-11-25T10:00:00Z", "2026-11-25T10:05:00Z")
    for spec in (
        QuerySpec(CALL_SUMMARY, mode, LABELS),
        QuerySpec(MEDIA_SUMMARY, mode, ("resource",)),
    ):
        query = spec.render(window, lookback=timedelta(days=3))
        analysis = kusto.analyze(query)
        assert analysis.diagnostics == (), [d.describe(query) for d in analysis.diagnostics]
        assert tuple(n for n, _ in analysis.columns) == spec.result_columns()
        types = dict(analysis.columns)
        assert {types[spec.table.dimension(label).result] for label in spec.labels} == {"string"}


@pytest.mark.parametrize("mode", ["aggregated", "raw"])
def test_media_results_carry_the_resource_from_every_query(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory, mode: str
) -> None:
    server.add_workspace(WS)
    source = make_source(
        mode=mode,
        tables=["ACSCallSummary", "ACSCallAutomationMediaSummary"],
        plan=LabelPlan(("resource",)),
    )
    cursor = start(source)
    t0 = clock.now
    resources = [c for c in CASES if c[0] == "resource"]
    rows = [
        {
            "TimeGenerated": t0,
            "OperationName": "Play",
            "ResultCode": 200,
            "ResultSubcode": number,
            "_ResourceId": raw,
            "_IngestedAt": t0 + timedelta(milliseconds=number),
        }
        for number, (_, raw, _) in enumerate(resources)
    ]
    server.add_records(WS, "ACSCallAutomationMediaSummary", rows)
    clock.advance(timedelta(minutes=5))
    batch = source.fetch(cursor)
    seen = {o.subcode: dict(o.dimensions) for o in batch.of(MEDIA_SUMMARY)}
    assert seen == {
        number: {"operation": "Play", "resource": value}
        for number, (_, _, value) in enumerate(resources)
    }
