"""Exactly once for the files source when logrotate runs *while* a fetch is in progress.

A fetch lists the matching paths once and then reads them one by one; a rotation
(`calls.jsonl.1 -> calls.jsonl.2`, `calls.jsonl -> calls.jsonl.1`, a new `calls.jsonl`) is not
synchronised with it and may land between the listing and the reads, or between the reads of
two files (test_files.py rotates between fetches)."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from acs_exporter.definitions.tables import CALL_SUMMARY
from acs_exporter.sources.base import Batch, Cursor
from acs_exporter.sources.files.settings import FilesSettings
from acs_exporter.sources.files.source import FilesSource

_ids = count()


def record(code: str) -> str:
    """One diagnostic record, each with its own correlation id (as real ones have)."""
    n = next(_ids)
    return json.dumps(
        {
            "time": f"2026-11-20T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
            "resourceId": "/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/"
            "MICROSOFT.COMMUNICATION/COMMUNICATIONSERVICES/ACS",
            "operationName": "CallSummary",
            "category": "CallSummary",
            "correlationId": f"00000000-0000-0000-0000-{n:012d}",
            "properties": {
                "participantEndReason": code,
                "participantEndSubCode": "0",
                "resultCategory": "Success",
                "participantId": f"p-{n}",
            },
        }
    )


def append(path: Path, codes: list[str]) -> None:
    with path.open("a") as f:
        for code in codes:
            f.write(record(code) + "\n")


def rotate(directory: Path, keep: int = 5) -> None:
    """logrotate with `create`: calls.jsonl.N -> N+1 ..., calls.jsonl -> .1, new empty one."""
    base = directory / "calls.jsonl"
    for n in range(keep - 1, 0, -1):
        older = directory / f"calls.jsonl.{n}"
        if older.exists():
            older.rename(directory / f"calls.jsonl.{n + 1}")
    base.rename(directory / "calls.jsonl.1")
    base.touch()


class RotatingSource(FilesSource):
    """A FilesSource with a logrotate run injected at one moment of a fetch: before the
    first file is read (`before_first`) or right after `after` has been read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rotate_in: Path | None = None  # the directory to rotate in, once
        self.after: str | None = None

    def _read_into(self, progress: Any, path: Path, state: Any) -> None:
        if self.rotate_in is not None and self.after is None:
            rotate(self.rotate_in)
            self.rotate_in = None
        super()._read_into(progress, path, state)
        if self.rotate_in is not None and path.name == self.after:
            rotate(self.rotate_in)
            self.rotate_in = None


def make(directory: Path) -> RotatingSource:
    settings = FilesSettings.model_validate(
        {"type": "files", "paths": [str(directory / "calls.jsonl*")]}
    ).model_copy(update={"poll_interval": timedelta(0), "unterminated_line_timeout": timedelta(0)})
    return RotatingSource(settings)


def counted(batches: list[Batch]) -> Counter[str]:
    out: Counter[str] = Counter()
    for batch in batches:
        for obs in batch.of(CALL_SUMMARY):
            out[obs.code] += obs.n
    return out


def fetch_all(src: FilesSource, cursor: Cursor, polls: int = 4) -> tuple[list[Batch], Cursor]:
    batches = []
    for _ in range(polls):
        batch = src.fetch(cursor)
        batches.append(batch)
        cursor = batch.cursor
    return batches, cursor


def _steady_state(tmp_path: Path) -> tuple[RotatingSource, list[Batch], Cursor]:
    """calls.jsonl.1 (an earlier rotation) and calls.jsonl, both read to the end."""
    append(tmp_path / "calls.jsonl", ["480"] * 5)
    rotate(tmp_path)
    append(tmp_path / "calls.jsonl", ["0"] * 10)
    src = make(tmp_path)
    batches, cursor = fetch_all(src, None, polls=1)
    assert counted(batches) == Counter({"480": 5, "0": 10})
    return src, batches, cursor


@pytest.mark.parametrize(
    "after",
    [
        # logrotate runs once this fetch has listed the files: the old calls.jsonl.1 (5 x 480)
        # moved to calls.jsonl.2, outside the fetch's listing, while another file took its
        # path; its progress must follow it, not be overwritten (it was read again from its
        # start).
        None,
        # between the reads of two files: the 3 lines read from calls.jsonl in this fetch are
        # not read again from calls.jsonl.1 in the same fetch (it adopted the progress
        # calls.jsonl had when the fetch began), nor the older calls.jsonl.1 again from its
        # start as calls.jsonl.2.
        "calls.jsonl",
    ],
    ids=["between-the-listing-and-the-reads", "right-after-the-live-file-was-read"],
)
def test_a_rotation_during_a_fetch_counts_every_record_once(
    tmp_path: Path, after: str | None
) -> None:
    src, batches, cursor = _steady_state(tmp_path)
    append(tmp_path / "calls.jsonl", ["487"] * 3)
    src.rotate_in, src.after = tmp_path, after
    more, cursor = fetch_all(src, cursor)
    batches += more
    append(tmp_path / "calls.jsonl", ["603"] * 2)
    more, cursor = fetch_all(src, cursor)
    batches += more
    # 5 x 480 (now calls.jsonl.2), 10 x 0 + 3 x 487 (now calls.jsonl.1), 2 x 603 (the new
    # calls.jsonl).
    assert counted(batches) == Counter({"480": 5, "0": 10, "487": 3, "603": 2})


def test_rotation_between_fetches_control(tmp_path: Path) -> None:
    # The same steps with the rotation between two fetches: counted exactly once.
    src, batches, cursor = _steady_state(tmp_path)
    append(tmp_path / "calls.jsonl", ["487"] * 3)
    rotate(tmp_path)
    more, cursor = fetch_all(src, cursor)
    batches += more
    append(tmp_path / "calls.jsonl", ["603"] * 2)
    more, cursor = fetch_all(src, cursor)
    batches += more
    assert counted(batches) == Counter({"480": 5, "0": 10, "487": 3, "603": 2})
    assert sorted(os.listdir(tmp_path)) == ["calls.jsonl", "calls.jsonl.1", "calls.jsonl.2"]


def test_rotation_during_a_fetch_moves_every_generation_once(tmp_path: Path) -> None:
    # Three generations: .2 -> .3 and .1 -> .2 both land on paths another file held.
    for code, n in [("490", 4), ("480", 5)]:
        append(tmp_path / "calls.jsonl", [code] * n)
        rotate(tmp_path)
    append(tmp_path / "calls.jsonl", ["0"] * 10)
    src = make(tmp_path)
    batches, cursor = fetch_all(src, None, polls=1)
    assert counted(batches) == Counter({"490": 4, "480": 5, "0": 10})
    append(tmp_path / "calls.jsonl", ["487"] * 3)
    src.rotate_in = tmp_path
    more, cursor = fetch_all(src, cursor)
    append(tmp_path / "calls.jsonl", ["603"] * 2)
    later, cursor = fetch_all(src, cursor)
    assert counted(batches + more + later) == Counter(
        {"490": 4, "480": 5, "0": 10, "487": 3, "603": 2}
    )
    assert sorted(os.listdir(tmp_path))[-1] == "calls.jsonl.3"
