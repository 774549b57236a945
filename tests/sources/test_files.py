"""The files source: the three export formats, bad input, cursors, restarts, appends."""

from __future__ import annotations

import io
import json
import logging
import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from acs_exporter.definitions.tables import CALL_SUMMARY, MEDIA_SUMMARY
from acs_exporter.sources.base import Batch, Cursor, Observation, SourceError
from acs_exporter.sources.files import progress as progress_module
from acs_exporter.sources.files import rejections as rejections_module
from acs_exporter.sources.files.settings import FilesSettings
from acs_exporter.sources.files.source import FilesSource

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "files"
# A file's progress as a cursor holds it; the tests of damaged cursors break one field of it.
GOOD_ENTRY = {"format": "csv", "head": "0" * 64, "head_len": 0, "offset": 0, "line": 0}
GOOD_ENTRY |= {"size": 0, "mtime_ns": 0}
P2P_VOIP = (("call_type", "P2P"), ("endpoint_type", "VoIP"), ("participant_type", "ACS"))


def source(*paths: Path | str, **settings: object) -> FilesSource:
    # poll_interval 0: a file that kept its size between two fetches has settled, however
    # soon the second one comes (tests of a real interval set it). A config may not say 0
    # (it would busy-loop the daemon), so it is set past validation.
    model = FilesSettings.model_validate(
        {"type": "files", "paths": [str(p) for p in paths], **settings}
    )
    if "poll_interval" not in settings:
        model = model.model_copy(update={"poll_interval": timedelta(0)})
    if "poll_interval" not in settings and "unterminated_line_timeout" not in settings:
        model = model.model_copy(update={"unterminated_line_timeout": timedelta(0)})
    return FilesSource(model)


def counts(batch: Batch) -> Counter[tuple[object, object]]:
    out: Counter[tuple[object, object]] = Counter()
    for obs in batch.of(CALL_SUMMARY):
        out[(obs.code, obs.subcode)] += obs.n
    return out


def total(batches: list[Batch]) -> int:
    return sum(o.n for b in batches for o in b.of(CALL_SUMMARY))


def drain(src: FilesSource, cursor: Cursor = None, polls: int = 50) -> tuple[list[Batch], Cursor]:
    batches = []
    for _ in range(polls):
        batch = src.fetch(cursor)
        batches.append(batch)
        cursor = batch.cursor
        if batch.caught_up:
            break
    return batches, cursor


def jsonl_record(code: object, subcode: object = "0", category: str = "Success") -> str:
    return json.dumps(
        {
            "time": "2026-11-20T10:00:00Z",
            "resourceId": "/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COMMUNICATION/"
            "COMMUNICATIONSERVICES/ACS",
            "operationName": "CallSummary",
            "category": "CallSummary",
            "properties": {
                "participantEndReason": code,
                "participantEndSubCode": subcode,
                "resultCategory": category,
                "callType": "P2P",
                "endpointType": "VoIP",
                "participantType": "ACS",
            },
        }
    )


# -- the three formats ------------------------------------------------------------------------


def test_diagnostic_jsonl(caplog: pytest.LogCaptureFixture) -> None:
    path = FIXTURES / "diagnostic.jsonl"
    with caplog.at_level(logging.WARNING):
        batch = source(path).fetch(None)
    assert counts(batch) == {
        ("0", "0"): 3,  # lines 1, 2 and 16 (properties as JSON text)
        ("487", "10003"): 1,
        ("500", "9001"): 1,
        ("480", "10037"): 1,
        ("", ""): 1,  # junk values still count: the catalog labels them malformed
        (603, None): 1,
    }
    assert batch.rejected == {
        "invalid_json": 1,
        "not_an_object": 1,
        "missing_field": 2,
        "wrong_type": 2,
        "other_table": 1,
    }
    messages = [r.getMessage() for r in caplog.records]
    expected = {
        6: "invalid JSON",
        7: "expected a JSON object",
        8: "field properties is missing",
        9: "field properties.participantEndReason is missing",
        10: "field properties.participantEndReason: expected a string or integer, got {'value'",
        11: "field properties.callType: expected a string, got ['P2P']",
        12: "category 'CallDiagnostics' is not CallSummary",
    }
    for line, text in expected.items():
        assert any(f"{path}:{line}: " in m and text in m for m in messages), (line, messages)
    server = [o for o in batch.of(CALL_SUMMARY) if o.code == "500"]
    assert server == [
        Observation(
            "500",
            "9001",
            "UnexpectedServerError",
            # resource from the top-level resourceId, the release from sdkVersion 1.30.1,
            # osVersion Redacted: the breakdown rules (definitions/breakdowns.py).
            (
                ("call_type", "P2P"),
                ("endpoint_type", "Server"),
                ("os", "unknown"),
                ("participant_type", "ACS"),
                ("resource", "acs-prod"),
                ("sdk_version", "1.30"),
            ),
            1,
        )
    ]


def test_log_analytics_query_result(caplog: pytest.LogCaptureFixture) -> None:
    path = FIXTURES / "query-result.json"
    with caplog.at_level(logging.WARNING):
        batch = source(path).fetch(None)
    assert counts(batch) == {
        ("0", "0"): 2,
        ("603", "0"): 1,
        ("504", "9002"): 1,
        ("0", "560000"): 1,
        (None, None): 1,
    }
    assert batch.rejected == {"invalid_row": 2, "wrong_type": 1, "other_table": 1}
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert f"{path}: tables[0].rows[5]: expected a list of 10 cells, got" in messages
    assert f"{path}: tables[0].rows[6]: field ParticipantEndReason: expected a string" in messages
    assert f"{path}: tables[0].rows[7]: Type 'ACSCallDiagnostics'" in messages
    assert f"{path}: tables[0].rows[8]: expected a list" in messages


@pytest.mark.parametrize("fixture", ["diagnostic.jsonl", "query-result.json"])
def test_a_utf8_byte_order_mark_is_read_past_as_in_csv_and_yaml(
    tmp_path: Path, fixture: str
) -> None:
    # Windows tools (Notepad, PowerShell's Out-File -Encoding utf8) write one at the start of a
    # file. orjson refuses it, so the first JSON line was rejected as invalid_json and a
    # query-result file as a whole; CSV exports and YAML files already read past it.
    plain = source(FIXTURES / fixture).fetch(None)
    path = tmp_path / fixture
    path.write_bytes(b"\xef\xbb\xbf" + (FIXTURES / fixture).read_bytes())
    marked = source(path).fetch(None)
    assert counts(marked) == counts(plain)
    assert marked.rejected == plain.rejected


def test_csv_export(caplog: pytest.LogCaptureFixture) -> None:
    path = FIXTURES / "export.csv"
    with caplog.at_level(logging.WARNING):
        batch = source(path).fetch(None)
    assert counts(batch) == {
        ("0", "0"): 2,
        ("487", "0"): 1,
        ("410", "3112"): 1,  # a quoted field spanning two lines
        ("500", "8518"): 1,
        ("abc", ""): 1,  # a non-numeric code still counts (as malformed)
    }
    assert batch.rejected == {"wrong_field_count": 1}
    assert any(f"{path}:7: expected 10 fields, found 7" in r.getMessage() for r in caplog.records)
    by_code = {o.code: o for o in batch.of(CALL_SUMMARY)}
    assert by_code["500"].service_category == ""
    assert by_code["487"].dimensions == (  # no _ResourceId, SdkVersion, OsVersion columns
        ("call_type", "Group"),
        ("endpoint_type", "VoIP"),
        ("os", "unknown"),
        ("participant_type", "ACS"),
        ("resource", "unknown"),
        ("sdk_version", "unknown"),
    )


def test_glob_reads_every_format_once() -> None:
    src = source(FIXTURES / "*")
    batches, cursor = drain(src)
    assert total(batches) == 8 + 6 + 6
    assert isinstance(cursor, dict)
    assert cursor["kind"] == "files"
    position = cursor["position"]
    assert isinstance(position, dict)
    files = position["files"]
    assert isinstance(files, dict)
    assert {Path(k).name: v["format"] for k, v in files.items() if isinstance(v, dict)} == {
        "diagnostic.jsonl": "diagnostic-jsonl",
        "query-result.json": "log-analytics-json",
        "export.csv": "csv",
    }
    assert src.fetch(cursor).of(CALL_SUMMARY) == []


def test_recursive_glob_and_explicit_format(tmp_path: Path) -> None:
    # The storage-account layout: one PT1H.json per hour, deep in folders.
    for hour in ("h=10", "h=11"):
        folder = tmp_path / "resourceId=X" / "y=2026" / hour / "m=00"
        folder.mkdir(parents=True)
        (folder / "PT1H.json").write_text(jsonl_record("0") + "\n" + jsonl_record("487") + "\n")
    src = source(tmp_path / "**" / "PT1H.json", format="diagnostic-jsonl")
    batch = src.fetch(None)
    assert counts(batch) == {("0", "0"): 2, ("487", "0"): 2}


def test_missing_path_is_reported_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = source(tmp_path / "later.jsonl")
    with caplog.at_level(logging.WARNING):
        assert src.fetch(None).of(CALL_SUMMARY) == []
        assert src.fetch(None).of(CALL_SUMMARY) == []
    assert sum("does not exist" in r.getMessage() for r in caplog.records) == 1
    (tmp_path / "later.jsonl").write_text(jsonl_record("0") + "\n")
    assert counts(src.fetch(None)) == {("0", "0"): 1}


# -- bad input --------------------------------------------------------------------------------


def test_invalid_utf8_in_csv(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(
        b"ParticipantEndReason,ParticipantEndSubCode,ResultCategory\n"
        b"0,0,Success\n"
        b"487,\xff\xfe,Success\n"
        b"603,0,Success\n"
    )
    with caplog.at_level(logging.WARNING):
        batch = source(path).fetch(None)
    assert counts(batch) == {("0", "0"): 1, ("603", "0"): 1}
    assert batch.rejected == {"invalid_encoding": 1}
    assert any(f"{path}:3: line is not valid UTF-8" in r.getMessage() for r in caplog.records)


def test_bad_csv_quoting_is_rejected_and_reading_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "ParticipantEndReason,ParticipantEndSubCode,ResultCategory\n"
        '0,"0"x,Success\n'  # text after a closing quote
        "603,0,Success\n"
    )
    with caplog.at_level(logging.WARNING):
        batch = source(path).fetch(None)
    assert counts(batch) == {("603", "0"): 1}
    assert batch.rejected == {"invalid_csv": 1}
    assert any(f"{path}:2: invalid CSV" in r.getMessage() for r in caplog.records)


def test_csv_without_end_code_column(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("TimeGenerated,CallType\n2026-11-20,P2P\n2026-11-20,Group\n")
    with caplog.at_level(logging.WARNING):
        batch = source(path).fetch(None)
    assert batch.of(CALL_SUMMARY) == []
    assert batch.rejected == {"missing_field": 2}
    assert any(f"{path}:2: no ParticipantEndReason" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("header", "reason", "message"),
    [
        (b'"ParticipantEndReason"x,ParticipantEndSubCode\n', "invalid_csv", "invalid CSV header"),
        (b'"ParticipantEndReason,ParticipantEndSubCode\n', "invalid_csv", "invalid CSV header"),
        (
            b"ParticipantEndReason,ParticipantEndSubCode,participantEndReason\n",
            "invalid_csv",
            "the header names ParticipantEndReason twice (columns 1 and 3, participantEndReason)",
        ),
        (b"\n", "invalid_csv", "the header (line 1) is empty"),
        (
            b"ParticipantEndReason,ParticipantEndSubCode," + b"X" * 3000 + b"\n",
            "line_too_long",
            "the header (line 1) is longer than 1000 bytes",
        ),
    ],
    ids=["stray-after-quote", "unterminated-quote", "column-twice", "empty", "too-long"],
)
def test_a_csv_header_that_cannot_be_read_rejects_the_file_once_by_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, header: bytes, reason: str, message: str
) -> None:
    # A finished export whose header is broken: its rows cannot be told apart. It used to be
    # skipped without a word (broken quoting read as "the header is still being written"), or
    # every row was blamed for it ("expected 0 fields"), or the last of two end-code columns
    # silently won. Now one rejection names the file's first line and what is wrong, and the
    # file is skipped until it is replaced (not rejected again at every poll).
    path = tmp_path / "export.csv"
    path.write_bytes(header + b"487,0\n487,0\n487,0\n")
    src = source(path, format="csv", max_line_bytes=1000)
    fetched: list[Batch] = []
    cursor: Cursor = None
    with caplog.at_level(logging.WARNING):
        for _ in range(3):  # an unterminated quote is judged once the file stopped growing
            fetched.append(src.fetch(cursor))
            cursor = fetched[-1].cursor
    assert total(fetched) == 0
    assert [b.rejected for b in fetched if b.rejected] == [{reason: 1}]
    assert fetched[-1].rejected == {}
    logged = [r.getMessage() for r in caplog.records if f"{path}:1:" in r.getMessage()]
    assert len(logged) == 1, caplog.text
    assert message in logged[0]
    path.write_text("ParticipantEndReason,ParticipantEndSubCode\n487,0\n")  # replaced
    assert counts(src.fetch(cursor)) == {("487", "0"): 1}


def test_unterminated_quote_waits_then_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "open.csv"
    path.write_text('ParticipantEndReason,ParticipantEndSubCode,DiagnosticOptions\n0,0,"{\n')
    src = source(path)
    first = src.fetch(None)  # the quoted field may still be being written
    assert first.of(CALL_SUMMARY) == []
    assert first.rejected == {}
    second = src.fetch(first.cursor)  # the file stopped growing: it is broken
    assert second.rejected == {"invalid_csv": 1}


def test_invalid_query_result_document(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "result.json"
    path.write_text('{"tables": [{"name": "PrimaryResult", "columns": [')
    src = source(path, format="log-analytics-json")
    first = src.fetch(None)
    assert first.rejected == {}  # it may still be being written
    with caplog.at_level(logging.ERROR):
        second = src.fetch(first.cursor)
    assert second.rejected == {"invalid_json": 1}
    assert any(f"{path}: response is not JSON" in r.getMessage() for r in caplog.records)
    third = src.fetch(second.cursor)
    assert third.rejected == {}  # rejected once, not on every poll
    # Fixed: read as a new document.
    shutil.copy(FIXTURES / "query-result.json", path)
    assert total([src.fetch(third.cursor)]) == 6


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('{"rows": []}', "response has no tables"),
        ('{"tables": [{"name": "T", "columns": [{"type": "string"}], "rows": []}]}', "columns[0]"),
        ('{"tables": [{"name": "T", "columns": [], "rows": {}}]}', "tables[0].rows: expected a"),
        ('{"tables": []}', "response has no tables"),
        ('{"tables": [{"name": "T", "rows": []}]}', "tables[0]: no columns"),
    ],
)
def test_query_result_of_the_wrong_shape(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, document: str, message: str
) -> None:
    path = tmp_path / "result.json"
    path.write_text(document)
    src = source(path, format="log-analytics-json")
    with caplog.at_level(logging.ERROR):
        batches, _ = drain(src)
        batch = src.fetch(batches[-1].cursor)
    assert batch.rejected == {"invalid_document": 1}
    assert any(str(path) in r.getMessage() and message in r.getMessage() for r in caplog.records)


def test_unknown_format_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n")
    src = source(path)
    with caplog.at_level(logging.ERROR):
        first = src.fetch(None)
        second = src.fetch(first.cursor)
        third = src.fetch(second.cursor)
    assert first.rejected == {}
    assert second.rejected == {"unknown_format": 1}
    assert third.rejected == {}
    assert any(f"{path}:1: cannot tell the format" in r.getMessage() for r in caplog.records)


def test_many_rejections_are_summarised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "junk.jsonl"
    path.write_text(jsonl_record("0") + "\n" + "not json\n" * 100)
    with caplog.at_level(logging.WARNING):
        batch = source(path, format="diagnostic-jsonl").fetch(None)
    assert batch.rejected == {"invalid_json": 100}
    assert counts(batch) == {("0", "0"): 1}
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == rejections_module.MAX_LOGGED_REJECTIONS + 1
    assert "80 more records rejected (invalid_json: 80)" in messages[-1]


def test_media_summary_rows(tmp_path: Path) -> None:
    path = tmp_path / "media.csv"
    path.write_text(
        "Type,ResultCode,ResultSubcode,OperationName,ParticipantEndReason\n"
        "ACSCallAutomationMediaSummary,200,0,Play,\n"
        "ACSCallAutomationMediaSummary,400,8535,Play,\n"
        "ACSCallSummary,,,,0\n"
    )
    batch = source(path).fetch(None)
    assert sorted((o.code, o.subcode, o.dimensions, o.n) for o in batch.of(MEDIA_SUMMARY)) == [
        ("200", "0", (("operation", "Play"), ("resource", "unknown")), 1),
        ("400", "8535", (("operation", "Play"), ("resource", "unknown")), 1),
    ]
    assert [(o.code, o.n) for o in batch.of(CALL_SUMMARY)] == [("0", 1)]


# -- cursor, restarts, appends ----------------------------------------------------------------


def test_restart_from_cursor_neither_recounts_nor_skips(tmp_path: Path) -> None:
    for name in ("diagnostic.jsonl", "export.csv", "query-result.json"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    reference, _ = drain(source(tmp_path / "*"))
    expected = Counter()
    for batch in reference:
        expected.update(counts(batch))
    # A new process per poll, 2 records per poll, resuming from the persisted cursor.
    cursor: Cursor = None
    seen: Counter[tuple[object, object]] = Counter()
    rejected: Counter[str] = Counter()
    for _ in range(100):
        batch = source(tmp_path / "*", batch_records=2).fetch(json.loads(json.dumps(cursor)))
        assert sum(o.n for o in batch.of(CALL_SUMMARY)) + sum(batch.rejected.values()) <= 2
        seen.update(counts(batch))
        rejected.update(batch.rejected)
        cursor = batch.cursor
        if batch.caught_up:
            break
    assert seen == expected
    assert rejected == Counter(
        {
            "invalid_json": 1,
            "not_an_object": 1,
            "missing_field": 2,
            "wrong_type": 3,
            "other_table": 2,
            "wrong_field_count": 1,
            "invalid_row": 2,
        }
    )


def test_batches_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text("".join(jsonl_record("0") + "\n" for _ in range(250)))
    src = source(path, batch_records=100)
    sizes = []
    cursor: Cursor = None
    while True:
        batch = src.fetch(cursor)
        sizes.append(sum(o.n for o in batch.of(CALL_SUMMARY)))
        cursor = batch.cursor
        if batch.caught_up:
            break
    assert sizes == [100, 100, 50]


def test_appended_lines_are_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "PT1H.json"
    path.write_text(jsonl_record("0") + "\n")
    src = source(path)
    first = src.fetch(None)
    assert counts(first) == {("0", "0"): 1}
    with path.open("a") as f:
        f.write(jsonl_record("487") + "\n" + jsonl_record("603"))  # the last line is partial
    second = src.fetch(first.cursor)
    assert counts(second) == {("487", "0"): 1}
    # The file did not grow since: its last line is complete after all.
    third = src.fetch(second.cursor)
    assert counts(third) == {("603", "0"): 1}
    with path.open("a") as f:
        f.write("\n" + jsonl_record("480", "10037", "ExpectedError") + "\n")
    fourth = src.fetch(third.cursor)
    assert counts(fourth) == {("480", "10037"): 1}
    assert src.fetch(fourth.cursor).of(CALL_SUMMARY) == []


def test_appended_csv_rows_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    path.write_text("ParticipantEndReason,ParticipantEndSubCode\n0,0\n")
    first = source(path).fetch(None)
    with path.open("a") as f:
        f.write("487,0\n")
    second = source(path).fetch(first.cursor)  # a new process: the header is read again
    assert counts(second) == {("487", "0"): 1}


def test_replaced_or_truncated_file_is_read_anew(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text(jsonl_record("0") + "\n" + jsonl_record("487") + "\n")
    src = source(path)
    first = src.fetch(None)
    assert sum(o.n for o in first.of(CALL_SUMMARY)) == 2
    path.write_text(jsonl_record("603") + "\n")  # new content, shorter
    with caplog.at_level(logging.INFO):
        second = src.fetch(first.cursor)
    assert counts(second) == {("603", "0"): 1}
    assert any("replaced or truncated" in r.getMessage() for r in caplog.records)


def test_moved_file_is_recognised_by_content(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text(jsonl_record("0") + "\n")
    first = source(path).fetch(None)
    # Same path, new inode (a restore from backup): the head hash still matches.
    copy = tmp_path / "copy"
    shutil.copy(path, copy)
    path.unlink()
    copy.rename(path)
    assert source(path).fetch(first.cursor).of(CALL_SUMMARY) == []


@pytest.mark.parametrize(
    ("cursor", "named"),
    [
        ("garbage", "expected an object, got 'garbage'"),
        ({"version": 99, "files": {}}, "not the previous release's layout"),
        ({"version": 1, "files": []}, "files: expected an object, got []"),
        ({"kind": "simulator", "version": 1, "position": {}}, "written by a 'simulator' source"),
        ({"kind": "files", "version": 7, "position": {}}, "version 7, this release reads 2"),
        (
            {"kind": "files", "version": 2, "position": {"files": {}, "unknown_format": "x"}},
            "unknown_format: expected a list of paths",
        ),
    ],
)
def test_a_damaged_cursor_is_a_bad_cursor_error_never_a_reread(cursor: Cursor, named: str) -> None:
    with pytest.raises(SourceError) as raised:
        source(FIXTURES / "export.csv").fetch(cursor)
    assert raised.value.reason == "bad_cursor"
    assert named in str(raised.value)


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ({"format": "csv", "offset": -1}, "head: expected a string"),
        ({**GOOD_ENTRY, "offset": -1}, "offset: expected a whole number >= 0, got -1"),
        ({**GOOD_ENTRY, "line": True}, "line: expected a whole number >= 0, got True"),
        ({**GOOD_ENTRY, "format": "xml"}, "format 'xml' is not one of"),
        ({**GOOD_ENTRY, "complete": "yes"}, "complete: expected true or false"),
        ("offset 3", "expected an object"),
    ],
)
def test_a_damaged_file_entry_names_the_file_and_field(entry: Cursor, named: str) -> None:
    path = str(FIXTURES / "export.csv")
    cursors: list[Cursor] = [
        {"version": 1, "files": {path: entry}},  # as the previous release saved it
        {"kind": "files", "version": 2, "position": {"files": {path: entry}}},
    ]
    for cursor in cursors:
        with pytest.raises(SourceError) as raised:
            source(path).fetch(cursor)
        assert raised.value.reason == "bad_cursor"
        assert f"files[{path!r}]: {named}" in str(raised.value)


def test_a_cursor_of_the_previous_release_continues_exactly_where_it_stopped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(jsonl_record(str(code)) + "\n" for code in (487, 603, 0)))
    first = source(path, batch_records=2).fetch(None)
    assert counts(first) == {("487", "0"): 1, ("603", "0"): 1}
    # The same progress, as the previous release wrote it: no envelope, version 1.
    assert isinstance(first.cursor, dict)
    assert first.cursor["kind"] == "files"
    position = first.cursor["position"]
    assert isinstance(position, dict)
    legacy: Cursor = json.loads(json.dumps({"version": 1, **position}))
    with path.open("a") as f:
        f.write(jsonl_record("490") + "\n")
    second = source(path).fetch(legacy)
    assert counts(second) == {("0", "0"): 1, ("490", "0"): 1}  # nothing read twice, or skipped
    assert second.cursor == source(path).fetch(second.cursor).cursor
    assert source(path).fetch(second.cursor).of(CALL_SUMMARY) == []


def test_progress_bar_only_on_a_terminal_and_never_on_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text("".join(jsonl_record("0") + "\n" for _ in range(5000)))

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(progress_module, "PROGRESS_MIN_BYTES", 1)
    monkeypatch.setattr("sys.stderr", terminal)
    batch = source(path).fetch(None)
    assert sum(o.n for o in batch.of(CALL_SUMMARY)) == 5000
    assert "big.jsonl" in terminal.getvalue()
    assert capsys.readouterr().out == ""
    # Switched off in the settings: no bar.
    terminal.seek(0)
    terminal.truncate()
    source(path, progress=False).fetch(None)
    assert terminal.getvalue() == ""
    # Logs are JSON lines: a bar would break them, so none.
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonLines())
    logging.getLogger().addHandler(handler)
    try:
        source(path).fetch(None)
    finally:
        logging.getLogger().removeHandler(handler)
    assert terminal.getvalue() == ""


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"msg": record.getMessage()})


def test_watermark_is_the_newest_file_read(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text(jsonl_record("0") + "\n")
    batch = source(path).fetch(None)
    assert batch.watermark is not None
    assert abs(batch.watermark.timestamp() - path.stat().st_mtime) < 1e-3


def test_unchanged_complete_files_are_not_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text(jsonl_record("0") + "\n")
    src = source(path)
    cursor = src.fetch(None).cursor
    opened: list[Path] = []
    real_open = Path.open

    def spy(self: Path, *args: object, **kwargs: object) -> object:
        opened.append(self)
        return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", spy)
    batch = src.fetch(cursor)
    assert batch.of(CALL_SUMMARY) == []
    assert opened == []
    assert batch.watermark is not None  # still reported from the file's modification time
    with real_open(path, "a") as f:
        f.write(jsonl_record("487") + "\n")
    assert counts(src.fetch(batch.cursor)) == {("487", "0"): 1}
    assert opened == [path]


def test_query_result_over_several_polls(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    shutil.copy(FIXTURES / "query-result.json", path)
    src = source(path, batch_records=3)
    batches, _ = drain(src)
    assert len(batches) == 4  # 10 rows, 3 per poll
    assert [b.caught_up for b in batches] == [False, False, False, True]
    assert total(batches) == 6
    assert sum(sum(b.rejected.values()) for b in batches) == 4


def test_pattern_matching_nothing_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = source(tmp_path / "*.csv")
    with caplog.at_level(logging.WARNING):
        src.fetch(None)
        src.fetch(None)
    assert sum("matches no file" in r.getMessage() for r in caplog.records) == 1


def test_rotated_file_matched_under_its_new_name_is_not_counted_again(tmp_path: Path) -> None:
    # logrotate-style rotation with a pattern matching both names: calls.jsonl -> calls.jsonl.1,
    # then a fresh calls.jsonl. The rotated file continues at its offset (lines appended just
    # before the rotation are still read once); only the new file is read from its start.
    current = tmp_path / "calls.jsonl"
    current.write_text(jsonl_record("0") + "\n" + jsonl_record("487") + "\n")
    src = source(tmp_path / "calls.jsonl*")
    first = src.fetch(None)
    assert counts(first) == {("0", "0"): 1, ("487", "0"): 1}
    with current.open("a") as f:
        f.write(jsonl_record("603") + "\n")
    current.rename(tmp_path / "calls.jsonl.1")
    current.write_text(jsonl_record("480", "10037", "ExpectedError") + "\n")
    second = source(tmp_path / "calls.jsonl*").fetch(first.cursor)  # also across a restart
    assert counts(second) == {("603", "0"): 1, ("480", "10037"): 1}
    # A second rotation moves each file one name on; nothing is read again.
    (tmp_path / "calls.jsonl.1").rename(tmp_path / "calls.jsonl.2")
    current.rename(tmp_path / "calls.jsonl.1")
    current.write_text(jsonl_record("490") + "\n")
    third = src.fetch(second.cursor)
    assert counts(third) == {("490", "0"): 1}
    assert src.fetch(third.cursor).of(CALL_SUMMARY) == []


def test_moved_file_continues_but_a_copy_beside_it_is_counted_again(tmp_path: Path) -> None:
    first_path = tmp_path / "a.jsonl"
    first_path.write_text(jsonl_record("0") + "\n")
    src = source(tmp_path / "*.jsonl")
    first = src.fetch(None)
    shutil.copy(first_path, tmp_path / "b.jsonl")  # documented: a copy is counted twice
    second = src.fetch(first.cursor)
    assert counts(second) == {("0", "0"): 1}
    first_path.rename(tmp_path / "c.jsonl")  # a move keeps its progress
    assert src.fetch(second.cursor).of(CALL_SUMMARY) == []


def test_read_error_mid_file_counts_nothing_of_it_not_even_rejections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An I/O error after some lines (a network volume going away) leaves the file's progress
    # where it was, so everything read of it, rejected lines included, is read again: none of
    # it may have been counted the first time.
    path = tmp_path / "calls.jsonl"
    head = jsonl_record("487") + "\nnot json\n"
    path.write_text(head + jsonl_record("0") + "\n")
    real_open = Path.open

    class FailingFile(io.BufferedReader):
        def readline(self, size: int | None = -1) -> bytes:
            if self.tell() >= len(head):  # after the first two lines
                raise OSError(5, "Input/output error")
            return super().readline(size)

    def failing_open(self: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        if mode == "rb" and self == path:
            return FailingFile(io.FileIO(self, "rb"))
        return real_open(self, mode, *args, **kwargs)  # type: ignore[call-overload]

    src = source(path, format="diagnostic-jsonl")
    monkeypatch.setattr(Path, "open", failing_open)
    first = src.fetch(None)
    assert first.of(CALL_SUMMARY) == []
    assert first.rejected == {}
    monkeypatch.undo()
    second = src.fetch(first.cursor)
    assert counts(second) == {("487", "0"): 1, ("0", "0"): 1}
    assert second.rejected == {"invalid_json": 1}


def test_a_partial_last_line_is_not_judged_complete_by_an_immediate_catch_up_poll(
    tmp_path: Path,
) -> None:
    # Catch-up polls follow each other at once (caught_up=False): a file that did not grow in
    # those milliseconds may still be being written, so its unfinished last line must wait.
    path = tmp_path / "calls.csv"
    path.write_text("ParticipantEndReason,ParticipantEndSubCode\n0,0\n487,10003\n480,1\n490,1")
    src = source(path, batch_records=2, poll_interval=10)
    first = src.fetch(None)
    assert counts(first) == {("0", "0"): 1, ("487", "10003"): 1}
    assert not first.caught_up
    second = src.fetch(first.cursor)  # at once: the writer is still on "490,1..."
    assert counts(second) == {("480", "1"): 1}
    with path.open("a") as f:
        f.write("0017\n")  # the line was 490,10017
    third = src.fetch(second.cursor)
    assert counts(third) == {("490", "10017"): 1}
    assert third.rejected == {}
    # A last line that stays unfinished for ten poll intervals (unterminated_line_timeout's
    # default; half of one was too short for a writer that pauses) is judged complete.
    with path.open("a") as f:
        f.write("0,0")
    now = [0.0]
    settings = FilesSettings(type="files", paths=[path], poll_interval=timedelta(seconds=10))
    clocked = FilesSource(settings, clock=lambda: now[0])
    assert clocked.fetch(third.cursor).of(CALL_SUMMARY) == []
    now[0] += 99.9
    assert clocked.fetch(third.cursor).of(CALL_SUMMARY) == []
    now[0] += 0.1
    assert counts(clocked.fetch(third.cursor)) == {("0", "0"): 1}


def test_a_symlink_to_a_matched_file_is_not_a_second_file(tmp_path: Path) -> None:
    # A "latest" link beside the dated files it points to, both matching the pattern.
    first_day = tmp_path / "2026-11-24.jsonl"
    first_day.write_text(jsonl_record("0") + "\n")
    latest = tmp_path / "latest.jsonl"
    latest.symlink_to(first_day.name)
    src = source(tmp_path / "*.jsonl")
    first = src.fetch(None)
    assert counts(first) == {("0", "0"): 1}
    next_day = tmp_path / "2026-11-25.jsonl"
    next_day.write_text(jsonl_record("487") + "\n")
    latest.unlink()
    latest.symlink_to(next_day.name)  # the link moves on; each day is still counted once
    second = src.fetch(first.cursor)
    assert counts(second) == {("487", "0"): 1}
    assert src.fetch(second.cursor).of(CALL_SUMMARY) == []


def test_unknown_format_is_counted_once_per_file_across_restarts_and_retries(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n")
    src = source(path)
    first = src.fetch(None)
    judged = src.fetch(first.cursor)
    assert judged.rejected == {"unknown_format": 1}
    # The batch was not applied (a failed checkpoint write): the retry from the same cursor
    # must count it, else it is never counted.
    assert src.fetch(first.cursor).rejected == {"unknown_format": 1}
    # Applied, then a restart: the new process must not count the same file again.
    restarted = source(path)
    cursor = judged.cursor
    for _ in range(3):
        batch = restarted.fetch(cursor)
        assert batch.rejected == {}
        cursor = batch.cursor


def test_a_last_line_of_a_file_untouched_for_the_timeout_is_complete_at_first_sight(
    tmp_path: Path,
) -> None:
    # A finished export without a final newline, untouched for longer than
    # unterminated_line_timeout (ten poll intervals, 100 s here) by the wall clock: its last
    # record is read at the first poll, also the first after a restart (the time measured by
    # the process alone made it wait the timeout again after every start, while ready).
    path = tmp_path / "calls.csv"
    path.write_text("ParticipantEndReason,ParticipantEndSubCode\n0,0\n487,10003")
    modified = path.stat().st_mtime
    settings = FilesSettings(type="files", paths=[path], poll_interval=timedelta(seconds=10))
    wall = [modified + 100.0]
    src = FilesSource(settings, clock=lambda: 0.0, wall_clock=lambda: wall[0])
    assert counts(src.fetch(None)) == {("0", "0"): 1, ("487", "10003"): 1}
    # Modified more recently (or by a writer whose clock is ahead): it waits as before, the
    # time measured by the process.
    wall[0] = modified + 99.9
    recent = FilesSource(settings, clock=lambda: 0.0, wall_clock=lambda: wall[0])
    assert counts(recent.fetch(None)) == {("0", "0"): 1}
    # With no timeout, a first sighting is never complete (a writer may be mid-line).
    untimed = settings.model_copy(update={"unterminated_line_timeout": timedelta(0)})
    wall[0] = modified + 3600
    first = FilesSource(untimed, wall_clock=lambda: wall[0]).fetch(None)
    assert counts(first) == {("0", "0"): 1}
