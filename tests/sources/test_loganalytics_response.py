"""One parser for the Log Analytics query response (sources/loganalytics/response.py): the live
client and saved query-result files check a body the same way, name the same place, and never
count a partial result."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import orjson
import pytest

from acs_exporter.definitions.tables import CALL_SUMMARY, MEDIA_SUMMARY
from acs_exporter.sources.base import SourceError
from acs_exporter.sources.files.settings import FilesSettings
from acs_exporter.sources.files.source import FilesSource
from acs_exporter.sources.formats.loganalytics_json import DocumentError, parse_document
from acs_exporter.sources.loganalytics import client

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "files" / "query-result.json"
COLUMNS = [{"name": n, "type": "string"} for n in ("Code", "Subcode", "ResultCategory", "n")]
ROW = ["0", "0", "Success", "1"]
# What the service adds beside the rows of a partial result.
LOW_MEMORY = {
    "code": "PartialError",
    "message": "There were some errors when processing your query.",
    "details": [{"code": "EngineError", "innererror": {"code": "E_LOW_MEMORY_CONDITION"}}],
}


def body(**document: object) -> bytes:
    return orjson.dumps(document)


MALFORMED = [
    b"{not json",
    b"[]",
    body(),
    body(tables={"a": 1}),
    body(tables=["PrimaryResult"]),
    body(tables=[{"rows": []}]),
    body(tables=[{"columns": COLUMNS}]),
    body(tables=[{"columns": "n", "rows": []}]),
    body(tables=[{"columns": [{"type": "string"}], "rows": []}]),
    body(tables=[{"columns": COLUMNS, "rows": {"r": 1}}]),
    body(tables=[{"columns": COLUMNS, "rows": []}, {"columns": "n", "rows": []}]),
    body(error="partial", tables=[]),
]


@pytest.mark.parametrize("payload", MALFORMED, ids=lambda p: p.decode()[:40])
def test_the_live_client_and_a_saved_file_refuse_a_body_with_the_same_words(
    payload: bytes,
) -> None:
    with pytest.raises(SourceError) as live:
        client.parse(payload, where="workspace W")
    with pytest.raises(DocumentError) as saved:
        parse_document(payload, "/data/result.json")
    assert live.value.reason == "server_error"
    assert saved.value.reason in ("invalid_json", "invalid_document")
    what = str(saved.value).removeprefix("/data/result.json: ")
    assert what in str(live.value)


def test_a_bad_row_is_named_alike_by_both() -> None:
    payload = body(tables=[{"columns": COLUMNS, "rows": [ROW] * 12 + [ROW[:3]]}])
    with pytest.raises(SourceError) as live:
        client.parse(payload, where="workspace W")
    assert "tables[0].rows[12]: expected a list of 4 cells, got ['0', '0', 'Success']" in str(
        live.value
    )


def files_source(path: Path) -> FilesSource:
    return FilesSource(
        FilesSettings.model_validate(
            {"type": "files", "paths": [str(path)], "format": "log-analytics-json"}
        )
    )


def test_a_saved_partial_result_counts_none_of_its_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    document = json.loads(FIXTURE.read_text())
    rows = len(document["tables"][0]["rows"])
    document["error"] = LOW_MEMORY
    path = tmp_path / "result.json"
    path.write_text(json.dumps(document))
    src = files_source(path)
    with caplog.at_level(logging.WARNING):
        batch = src.fetch(None)
    assert batch.of(CALL_SUMMARY) == []
    assert batch.of(MEDIA_SUMMARY) == []
    assert batch.rejected == {"partial_result": rows}
    # One line, naming the file and what the service said (the operator re-runs the export).
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1, lines
    assert str(path) in lines[0]
    assert "E_LOW_MEMORY_CONDITION" in lines[0]
    assert "partial" in lines[0]
    # Judged once: the next poll neither counts nor rejects it again, also after a restart.
    again = src.fetch(batch.cursor)
    assert (again.of(CALL_SUMMARY), again.rejected) == ([], {})
    restarted = files_source(path).fetch(batch.cursor)
    assert (restarted.of(CALL_SUMMARY), restarted.rejected) == ([], {})


def test_a_saved_partial_result_without_rows_is_still_counted_as_rejected(
    tmp_path: Path,
) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(body(tables=[{"columns": COLUMNS, "rows": []}], error=LOW_MEMORY))
    assert files_source(path).fetch(None).rejected == {"partial_result": 1}


def test_the_live_client_never_counts_a_partial_result() -> None:
    payload = body(tables=[{"columns": COLUMNS, "rows": [ROW]}], error=LOW_MEMORY)
    with pytest.raises(SourceError) as live:
        client.parse(payload, where="workspace W")
    assert live.value.reason == "partial"
    assert "E_LOW_MEMORY_CONDITION" in str(live.value)
