"""Records as real exports carry them, through every file format and the daemon's aggregation.

Empty, null and absent subcodes are *no subcode* (label `none`), resolved by the service's
ResultCategory, then the code; blanks around codes and other casings of ResultCategory are
tolerated. Every record counts exactly once (docs/catalog.md "Missing subcodes and odd
spellings"). The expected labels are written out here, not computed by the code under test.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, MEDIA_SUMMARY, LabelPlan
from acs_exporter.pipeline.aggregate import Resolver, summarise
from acs_exporter.sources.base import Batch
from acs_exporter.sources.files.settings import FilesSettings
from acs_exporter.sources.files.source import FilesSource

ABSENT = object()  # the field is not in the record at all

# (ParticipantEndReason, ParticipantEndSubCode, ResultCategory) -> (code, subcode, category)
CALL_ENDS: list[tuple[object, object, object, tuple[str, str, str]]] = [
    ("0", "", "Success", ("0", "none", "Success")),
    ("0", None, "Success", ("0", "none", "Success")),
    ("0", ABSENT, "Success", ("0", "none", "Success")),
    ("0", "", "", ("0", "none", "Success")),  # code 0 with nothing: its no-subcode rule
    ("0", None, None, ("0", "none", "Success")),
    ("0", ABSENT, ABSENT, ("0", "none", "Success")),
    ("0", "  ", "", ("0", "none", "Success")),
    ("0", "", "expectedError", ("0", "none", "ExpectedError")),
    ("0", "", " unexpectedServerError ", ("0", "none", "UnexpectedServerError")),
    ("0", "", "Unknown", ("0", "none", "Success")),  # not a category the service vouches for
    ("500", "", "", ("500", "none", "UnexpectedServerError")),
    ("500", None, "UNEXPECTEDSERVERERROR", ("500", "none", "UnexpectedServerError")),
    (" 487 ", " 10004 ", "expectederror", ("487", "10004", "ExpectedError")),
    ("487", "0", "SUCCESS", ("487", "0", "Success")),
    ("0", "abc", "", ("0", "malformed", "Unknown")),  # junk stays malformed
    ("", "", "", ("malformed", "none", "Unknown")),  # a call end always has a code
    (None, None, "success", ("malformed", "none", "Success")),
]
EXPECTED = Counter(labels for *_, labels in CALL_ENDS)
EXPECTED_MALFORMED = sum(n for labels, n in EXPECTED.items() if "malformed" in labels)
EXPECTED_UNKNOWN = sum(n for labels, n in EXPECTED.items() if labels[2] == "Unknown")


def summarised(batches: list[Batch]) -> tuple[Counter[tuple[str, str, str]], int, int, int]:
    resolver, plan = Resolver(load_catalog()), LabelPlan()
    series: Counter[tuple[str, str, str]] = Counter()
    read = unknown = malformed = 0
    for batch in batches:
        assert not batch.rejected, batch.rejected
        delta = summarise(batch, resolver, plan)
        for (family, code, subcode, category, _), n in delta.series.items():
            assert family == "call_ends"
            series[(code, subcode, category)] += n
        read, unknown, malformed = (
            read + delta.records_read,
            unknown + delta.unknown,
            malformed + delta.malformed,
        )
    return series, read, unknown, malformed


def read_all(path: Path) -> list[Batch]:
    # poll_interval 0 (set past validation, which refuses it for a config): a file that kept
    # its size between two fetches has settled, however soon the second one comes.
    settings = FilesSettings.model_validate({"type": "files", "paths": [str(path)]})
    src = FilesSource(settings.model_copy(update={"poll_interval": timedelta(0)}))
    batches, cursor = [], None
    for _ in range(20):
        batch = src.fetch(cursor)
        batches.append(batch)
        cursor = batch.cursor
        if batch.caught_up and not (batch.of(CALL_SUMMARY) or batch.of(MEDIA_SUMMARY)):
            break
    src.close()
    return batches


def assert_exact(batches: list[Batch], expected: Counter[tuple[str, str, str]]) -> None:
    series, read, unknown, malformed = summarised(batches)
    assert series == expected
    assert read == sum(expected.values())
    assert malformed == sum(n for labels, n in expected.items() if "malformed" in labels)
    assert unknown == sum(n for labels, n in expected.items() if labels[2] == "Unknown")


def test_diagnostic_jsonl_with_empty_null_and_absent_fields(tmp_path: Path) -> None:
    lines = []
    for code, subcode, category, _ in CALL_ENDS:
        properties: dict[str, object] = {"participantEndReason": code}
        if subcode is not ABSENT:
            properties["participantEndSubCode"] = subcode
        if category is not ABSENT:
            properties["resultCategory"] = category
        lines.append(json.dumps({"category": "CallSummary", "properties": properties}))
    path = tmp_path / "diagnostic.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert_exact(read_all(path), EXPECTED)


def test_diagnostic_jsonl_integer_codes_and_other_property_casing(tmp_path: Path) -> None:
    records = [
        {"ParticipantEndReason": 0, "ParticipantEndSubCode": None, "ResultCategory": "success"},
        {"participantendreason": 500, "resultcategory": ""},
        {"participantEndReason": 487, "participantEndSubCode": 10004},
    ]
    path = tmp_path / "diagnostic.jsonl"
    path.write_text(
        "".join(json.dumps({"category": "CallSummary", "properties": r}) + "\n" for r in records)
    )
    expected = Counter(
        [
            ("0", "none", "Success"),
            ("500", "none", "UnexpectedServerError"),
            ("487", "10004", "ExpectedError"),
        ]
    )
    assert_exact(read_all(path), expected)


def _cell(value: object) -> str:
    return "" if value is None or value is ABSENT else str(value)


def test_csv_with_empty_cells(tmp_path: Path) -> None:
    """CSV cannot tell null from empty: both are an empty cell, both are no subcode."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ParticipantEndReason", "ParticipantEndSubCode", "ResultCategory"])
    for code, subcode, category, _ in CALL_ENDS:
        writer.writerow([_cell(code), _cell(subcode), _cell(category)])
    path = tmp_path / "export.csv"
    path.write_text(out.getvalue())
    assert_exact(read_all(path), EXPECTED)


def test_csv_without_subcode_or_category_columns(tmp_path: Path) -> None:
    path = tmp_path / "old-export.csv"
    path.write_text("ParticipantEndReason,CallType\n0,P2P\n 500 ,Group\n487,P2P\n")
    expected = Counter(
        [
            ("0", "none", "Success"),
            ("500", "none", "UnexpectedServerError"),
            ("487", "none", "ExpectedError"),
        ]
    )
    assert_exact(read_all(path), expected)


def _query_result(columns: list[str], rows: list[list[object]]) -> str:
    return json.dumps(
        {
            "tables": [
                {
                    "name": "PrimaryResult",
                    "columns": [{"name": c, "type": "string"} for c in columns],
                    "rows": rows,
                }
            ]
        }
    )


def test_log_analytics_json_with_empty_and_null_cells(tmp_path: Path) -> None:
    columns = ["ParticipantEndReason", "ParticipantEndSubCode", "ResultCategory"]
    rows = [
        [None if v is ABSENT else v for v in (code, subcode, category)]
        for code, subcode, category, _ in CALL_ENDS
    ]
    path = tmp_path / "query-result.json"
    path.write_text(_query_result(columns, rows))
    assert_exact(read_all(path), EXPECTED)


def test_log_analytics_json_without_subcode_column(tmp_path: Path) -> None:
    path = tmp_path / "query-result.json"
    path.write_text(
        _query_result(["ParticipantEndReason", "ResultCategory"], [["0", ""], ["0", "Success"]])
    )
    assert_exact(read_all(path), Counter({("0", "none", "Success"): 2}))


def test_media_results_without_subcode(tmp_path: Path) -> None:
    path = tmp_path / "media.csv"
    path.write_text(
        "Type,ResultCode,ResultSubcode,OperationName\n"
        "ACSCallAutomationMediaSummary,200,,Play\n"
        "ACSCallAutomationMediaSummary, 200 ,0,Play\n"
    )
    (batch,) = read_all(path)[:1]
    delta = summarise(batch, Resolver(load_catalog()), LabelPlan())
    assert {key[1:4]: n for key, n in delta.series.items()} == {
        ("200", "none", "Success"): 1,
        ("200", "0", "Success"): 1,
    }
    assert delta.malformed == 0
