"""The files source's bounds on a line: a length cap (read in chunks, never whole), and when an
unterminated last line counts as complete (not after a writer's pause)."""

from __future__ import annotations

import json
import logging
import tracemalloc
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from acs_exporter.definitions.tables import CALL_SUMMARY
from acs_exporter.sources.base import Batch, Cursor
from acs_exporter.sources.files.settings import FilesSettings
from acs_exporter.sources.files.source import FilesSource

MIB = 1024 * 1024


def record(code: str, subcode: str = "0") -> str:
    return json.dumps(
        {
            "category": "CallSummary",
            "properties": {"participantEndReason": code, "participantEndSubCode": subcode},
        }
    )


def source(path: Path, **settings: object) -> FilesSource:
    # A zero poll interval (a file that kept its size between two fetches has settled) is below
    # what a config may say (it would busy-loop the daemon), so it is set past validation.
    model = FilesSettings.model_validate({"type": "files", "paths": [str(path)], **settings})
    zero = timedelta(0)
    update: dict[str, object] = {"poll_interval": zero}
    if "unterminated_line_timeout" not in settings:
        update["unterminated_line_timeout"] = zero
    return FilesSource(model.model_copy(update=update))


def counts(batch: Batch) -> Counter[tuple[object, object]]:
    out: Counter[tuple[object, object]] = Counter()
    for obs in batch.of(CALL_SUMMARY):
        out[(obs.code, obs.subcode)] += obs.n
    return out


def drain(src: FilesSource, cursor: Cursor = None) -> tuple[Counter[object], Counter[str], Cursor]:
    """Fetch until nothing changes: (counts, rejections, cursor)."""
    found: Counter[object] = Counter()
    rejected: Counter[str] = Counter()
    for _ in range(20):
        batch = src.fetch(cursor)
        found.update(counts(batch))
        rejected.update(batch.rejected)
        if batch.caught_up and batch.cursor == cursor:
            break
        cursor = batch.cursor
    return found, rejected, cursor


def drain_traced(src: FilesSource) -> tuple[Counter[object], Counter[str], int]:
    """Like drain: (counts, rejections, the peak of memory Python allocated meanwhile)."""
    tracemalloc.start()
    try:
        found, rejected, _ = drain(src)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return found, rejected, peak


def write_with_long_line(
    path: Path, header: str, good: str, long_bytes: int, around: tuple[bytes, bytes]
) -> None:
    """`good`, a line of `long_bytes` (within `around`, e.g. a JSON string), `good`."""
    with path.open("wb") as f:
        f.write(header.encode())
        f.write((good + "\n").encode())
        chunk = b"x" * MIB
        f.write(around[0])
        for _ in range(long_bytes // MIB):
            f.write(chunk)
        f.write(around[1] + b"\n")
        f.write((good + "\n").encode())


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_a_64_mib_line_is_rejected_without_being_held_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    path = tmp_path / f"calls.{kind}"
    if kind == "jsonl":
        around = (b'{"category": "CallSummary", "junk": "', b'"}')
        write_with_long_line(path, "", record("487", "10003"), 64 * MIB, around)
    else:
        header = "ParticipantEndReason,ParticipantEndSubCode\n"
        write_with_long_line(path, header, "487,10003", 64 * MIB, (b'487,"', b'"'))
    caplog.set_level(logging.WARNING)
    found, rejected, peak = drain_traced(source(path))
    assert found == {("487", "10003"): 2}  # the good lines either side still count
    assert rejected == {"line_too_long": 1}
    line = 2 if kind == "jsonl" else 3
    assert f"{path}:{line}: line longer than 1048576 bytes" in caplog.text
    assert peak < 8 * MIB, peak  # the line is 64 MiB; the cap is 1 MiB


def test_a_csv_record_spanning_lines_is_capped_as_a_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Each line is short, but a quote left open at its end joins it to the next: without a cap
    # on the record, csv gathers millions of fields in memory.
    path = tmp_path / "calls.csv"
    with path.open("w") as f:
        f.write("ParticipantEndReason,ParticipantEndSubCode\n0,0\n")
        f.write('487,"a",')
        for _ in range(160):
            f.write("c," * 50_000 + '"\n",')
        f.write('"end"\n\n0,0\n')
    caplog.set_level(logging.WARNING)
    found, rejected, peak = drain_traced(source(path))
    assert found[("0", "0")] == 2  # the rows around it still count
    assert rejected["line_too_long"] == 1
    assert f"{path}:3: CSV record over lines 3-" in caplog.text
    assert peak < 32 * MIB, peak  # the record is 16 MB of fields


def test_the_cap_is_configurable_and_a_line_at_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    short = record("0")
    padded = record("487", "10003")[:-1] + ', "pad": "' + "p" * 200 + '"}'
    path.write_text(f"{short}\n{padded}\n{short}\n")
    found, rejected, _ = drain(source(path, max_line_bytes=len(padded)))
    assert found == {("0", "0"): 2, ("487", "10003"): 1}
    assert rejected == {}
    found, rejected, _ = drain(source(path, max_line_bytes=len(padded) - 1))
    assert found == {("0", "0"): 2}
    assert rejected == {"line_too_long": 1}


def test_a_long_line_still_being_written_is_rejected_once_when_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text(record("0") + "\n" + "x" * (3 * MIB))
    src = source(path, unterminated_line_timeout=timedelta(hours=1))
    found, rejected, cursor = drain(src)
    assert found == {("0", "0"): 1}
    assert rejected == {}  # it may still end within the cap? no, but it has not ended yet
    with path.open("a") as f:
        f.write("x" * MIB + "\n" + record("487", "10003") + "\n")
    found, rejected, cursor = drain(src, cursor)
    assert found == {("487", "10003"): 1}
    assert rejected == {"line_too_long": 1}
    assert drain(src, cursor)[:2] == (Counter(), Counter())


# -- unterminated last lines --------------------------------------------------------------------


def test_a_writer_pausing_mid_line_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    line = record("487", "10003")
    path.write_text(record("0") + "\n" + line[:20])
    now = [0.0]
    settings = FilesSettings(type="files", paths=[path], poll_interval=timedelta(seconds=1))
    src = FilesSource(settings, clock=lambda: now[0])
    cursor: Cursor = None
    seen: Counter[object] = Counter()
    rejected: Counter[str] = Counter()
    for _ in range(8):  # four poll intervals: eight times half of one
        batch = src.fetch(cursor)
        seen.update(counts(batch))
        rejected.update(batch.rejected)
        cursor = batch.cursor
        now[0] += 0.5
    with path.open("a") as f:
        f.write(line[20:] + "\n")
    batch = src.fetch(cursor)
    seen.update(counts(batch))
    rejected.update(batch.rejected)
    assert seen == {("0", "0"): 1, ("487", "10003"): 1}
    assert rejected == {}


def test_an_unterminated_last_line_counts_once_it_has_not_grown_for_the_timeout(
    tmp_path: Path,
) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text(record("0") + "\n" + record("487", "10003"))
    now = [0.0]
    settings = FilesSettings.model_validate(
        {"type": "files", "paths": [str(path)], "poll_interval": timedelta(seconds=1)}
    )
    assert settings.unterminated_line_timeout == timedelta(seconds=10)  # ten poll intervals
    src = FilesSource(settings, clock=lambda: now[0])
    first = src.fetch(None)
    assert counts(first) == {("0", "0"): 1}
    now[0] += 9.9
    assert src.fetch(first.cursor).of(CALL_SUMMARY) == []
    now[0] += 0.1
    last = src.fetch(first.cursor)
    assert counts(last) == {("487", "10003"): 1}
    assert last.rejected == {}


def test_a_rotated_file_cannot_grow_so_its_unterminated_line_counts_at_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text(record("0") + "\n" + record("487", "10003"))
    settings = FilesSettings.model_validate(
        {
            "type": "files",
            "paths": [str(tmp_path / "calls.jsonl*")],
            "poll_interval": timedelta(hours=1),
        }
    )
    src = FilesSource(settings)
    first = src.fetch(None)
    assert counts(first) == {("0", "0"): 1}
    path.rename(tmp_path / "calls.jsonl.1")
    path.write_text(record("480", "10037") + "\n")
    second = src.fetch(first.cursor)
    assert counts(second) == {("480", "10037"): 1}  # found moved: its writer may be finishing
    third = src.fetch(second.cursor)  # at the same size: rotated files do not grow
    assert counts(third) == {("487", "10003"): 1}
    assert second.rejected == third.rejected == {}


def test_a_rejected_value_is_quoted_in_the_log_only_in_part(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "calls.jsonl"
    big = {"k" + str(i): "v" * 100 for i in range(1000)}  # ~100 KB: under the line cap
    line = json.dumps({"category": "CallSummary", "properties": {"participantEndReason": big}})
    path.write_text(line + "\n" + record("0") + "\n")
    caplog.set_level(logging.WARNING)
    found, rejected, _ = drain(source(path))
    assert found == {("0", "0"): 1}
    assert rejected == {"wrong_type": 1}
    [message] = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert message.startswith(f"{path}:1: field properties.participantEndReason: expected")
    assert len(message) < 600


def test_a_query_result_larger_than_the_cap_is_rejected_unread(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "result.json"
    rows = [["0", "0"]] * 100
    columns = [{"name": "ParticipantEndReason"}, {"name": "ParticipantEndSubCode"}]
    path.write_text(
        json.dumps({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]})
    )
    size = path.stat().st_size
    src = source(path, max_document_bytes=size - 1)
    caplog.set_level(logging.ERROR)
    found, rejected, _ = drain(src)
    assert found == Counter()
    assert rejected == {"document_too_large": 1}  # once, not once per poll
    assert f"{path}: query result of {size} bytes is larger than max_document_bytes" in caplog.text
    found, rejected, _ = drain(source(path, max_document_bytes=size))
    assert found == {("0", "0"): 100}
    assert rejected == Counter()
