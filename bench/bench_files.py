"""Files source: parse throughput per format, and memory that stays flat as files grow.

Writes realistic exports (every ACSCallSummary column a real export has) to a temporary folder,
then drains them through FilesSource exactly as the daemon would (batches of 100,000 records).
Throughput is the median of 3 runs; memory is the peak traced by tracemalloc while draining a
file, for two file sizes: a flat source keeps the same peak when the file is 4x longer.
"""

from __future__ import annotations

import csv
import json
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from acs_exporter.definitions.tables import CALL_SUMMARY
from acs_exporter.sources.base import Cursor
from acs_exporter.sources.files.settings import FilesSettings
from acs_exporter.sources.files.source import FilesSource
from bench.result import Result

RECORDS = 100_000
REASONS = [("0", "0", "Success"), ("487", "10003", "Success"), ("480", "10037", "ExpectedError")]
REASONS += [("500", "9001", "UnexpectedServerError"), ("603", "0", "Success")]


def _row(i: int) -> dict[str, object]:
    code, subcode, category = REASONS[i % len(REASONS)]
    return {
        "TimeGenerated": f"2026-11-20T10:{i // 60 % 60:02d}:{i % 60:02d}.1234567Z",
        "CorrelationId": f"c0ffee00-0000-0000-0000-{i:012d}",
        "CallStartTime": "2026-11-20T09:59:00Z",
        "CallDuration": 61,
        "CallType": "Group" if i % 3 else "P2P",
        "ParticipantId": f"p-{i}",
        "ParticipantStartTime": "2026-11-20T09:59:01Z",
        "ParticipantDuration": 60,
        "ParticipantEndReason": code,
        "ParticipantEndSubCode": subcode,
        "EndpointId": f"e-{i}",
        "EndpointType": "VoIP",
        "SdkVersion": "1.30.1",
        "OsVersion": "Redacted",
        "ResultCategory": category,
        "ParticipantType": "ACS",
    }


def write_jsonl(path: Path, n: int) -> None:
    with path.open("w") as f:
        for i in range(n):
            row = _row(i)
            props = {k[0].lower() + k[1:]: v for k, v in row.items() if k != "TimeGenerated"}
            record = {
                "time": row["TimeGenerated"],
                "resourceId": "/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/"
                "MICROSOFT.COMMUNICATION/COMMUNICATIONSERVICES/ACS",
                "operationName": "CallSummary",
                "category": "CallSummary",
                "properties": props,
            }
            f.write(json.dumps(record) + "\n")


def write_csv(path: Path, n: int) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(_row(0)))
        writer.writeheader()
        for i in range(n):
            writer.writerow(_row(i))


def write_query_result(path: Path, n: int) -> None:
    names = list(_row(0))
    rows = [list(_row(i).values()) for i in range(n)]
    columns = [{"name": c, "type": "string"} for c in names]
    path.write_text(
        json.dumps({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]})
    )


def drain(path: Path) -> int:
    source = FilesSource(FilesSettings(type="files", paths=[path], progress=False))
    cursor: Cursor = None
    records = 0
    while True:
        batch = source.fetch(cursor)
        records += sum(o.n for o in batch.of(CALL_SUMMARY))
        cursor = batch.cursor
        if batch.caught_up:
            return records


def peak_memory(path: Path) -> int:
    tracemalloc.start()
    try:
        drain(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run() -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        writers = {
            "diagnostic-jsonl": (write_jsonl, "calls.jsonl"),
            "csv": (write_csv, "calls.csv"),
            "log-analytics-json": (write_query_result, "calls.json"),
        }
        for fmt, (write, name) in writers.items():
            path = folder / name
            write(path, RECORDS)
            timings = []
            for _ in range(3):
                start = time.perf_counter()
                assert drain(path) == RECORDS
                timings.append(time.perf_counter() - start)
            rate = RECORDS / statistics.median(timings)
            size = path.stat().st_size / 1e6
            results.append(
                Result(f"files {fmt}", f"records/s ({RECORDS:,}, {size:.0f} MB)", f"{rate:,.0f}")
            )
        # Flat memory for the streaming formats: 4x the lines, about the same peak.
        for fmt, (write, name) in writers.items():
            if fmt == "log-analytics-json":
                continue  # a document is parsed whole: its memory grows with the file
            small, large = folder / f"small-{name}", folder / f"large-{name}"
            write(small, 50_000)
            write(large, 200_000)
            peak_small, peak_large = peak_memory(small), peak_memory(large)
            ratio = peak_large / peak_small
            results.append(
                Result(
                    f"files {fmt}",
                    "peak traced memory, 200k vs 50k lines",
                    f"{peak_large / 1e3:,.0f} kB vs {peak_small / 1e3:,.0f} kB",
                    "ratio <= 1.5",
                    ratio <= 1.5,
                )
            )
    return results
