"""At shutdown a files fetch ends early, in every format: what it read is counted with a cursor
right after it, and the next fetch from that cursor reads exactly the rest."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from acs_exporter.definitions.tables import CALL_SUMMARY
from acs_exporter.sources.base import Batch, Cursor
from acs_exporter.sources.files.settings import FilesSettings
from acs_exporter.sources.files.source import FilesSource

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "files"
RECORDS = 3000


class StopAfter(threading.Event):
    """An event that reads as set from its n-th look on: a stop arriving mid-parse."""

    def __init__(self, looks: int) -> None:
        super().__init__()
        self.looks = looks

    def is_set(self) -> bool:
        self.looks -= 1
        return self.looks < 0 or super().is_set()


def write(tmp_path: Path, fmt: str) -> Path:
    if fmt == "jsonl":
        line = json.dumps(
            {
                "category": "CallSummary",
                "properties": {"participantEndReason": "0", "participantEndSubCode": "0"},
            }
        )
        path = tmp_path / "calls.jsonl"
        path.write_text((line + "\n") * RECORDS)
    elif fmt == "csv":
        header, row = (FIXTURES / "export.csv").read_text(encoding="utf-8-sig").splitlines()[:2]
        path = tmp_path / "calls.csv"
        path.write_text(header + "\n" + (row + "\n") * RECORDS)
    else:
        document = json.loads((FIXTURES / "query-result.json").read_text())
        table = document["tables"][0]
        table["rows"] = [table["rows"][0]] * RECORDS
        path = tmp_path / "calls.json"
        path.write_text(json.dumps({"tables": [table]}))
    return path


def files_source(path: Path, stop: threading.Event | None) -> FilesSource:
    settings = FilesSettings.model_validate(
        {"type": "files", "paths": [str(path)], "batch_records": 10**6}
    )
    # Zero intervals (every fetch sees the file settled) are below what a config may say.
    zero = timedelta(0)
    settings = settings.model_copy(
        update={"poll_interval": zero, "unterminated_line_timeout": zero}
    )
    return FilesSource(settings, stop=stop)


def read_all(source: FilesSource, cursor: Cursor) -> tuple[int, Cursor]:
    total = 0
    for _ in range(10):
        batch: Batch = source.fetch(cursor)
        total += sum(o.n for o in batch.of(CALL_SUMMARY))
        cursor = batch.cursor
        if batch.caught_up:
            return total, cursor
    raise AssertionError("never caught up")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "log-analytics-json"])
def test_a_stop_mid_parse_counts_the_part_read_and_the_rest_follows(
    tmp_path: Path, fmt: str
) -> None:
    path = write(tmp_path, fmt)
    # Two fetches settle the file (its size seen twice), so a stop can cut the second.
    settled = files_source(path, None)
    settled.fetch(None)
    stopping = files_source(path, StopAfter(looks=4))
    stopping._last_size = settled._last_size
    batch = stopping.fetch(None)
    part = sum(o.n for o in batch.of(CALL_SUMMARY))
    assert 0 < part < RECORDS, part
    assert batch.caught_up is False
    rest, _ = read_all(files_source(path, None), batch.cursor)
    assert part + rest == RECORDS


def test_a_stop_before_the_fetch_reads_nothing_and_moves_no_cursor(tmp_path: Path) -> None:
    path = write(tmp_path, "jsonl")
    stop = threading.Event()
    stop.set()
    batch = files_source(path, stop).fetch(None)
    assert batch.of(CALL_SUMMARY) == []
    assert batch.caught_up is False
    total, _ = read_all(files_source(path, None), batch.cursor)
    assert total == RECORDS
