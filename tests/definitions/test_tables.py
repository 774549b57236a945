"""Each ACS table is defined once (acs_exporter.definitions.tables) and read everywhere else.

The proof: a table the exporter does not ship, defined here only, is queried (valid KQL by the
Kusto language service), read from diagnostic-settings JSON lines, a CSV export and an exported
Log Analytics query result, aggregated, exposed as its own family and checkpointed, with no other
code change. And the `metrics.extra_labels` allow-list exists once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from tests.conftest import require_path, require_tool
from tests.sources.loganalytics.fake_server import FakeCredential, FakeLogAnalytics
from tests.sources.loganalytics.kusto import PACKAGE, KustoChecker
from tests.sources.loganalytics.schemas import TABLES

from acs_exporter.catalog import Domain, load_catalog
from acs_exporter.config import MetricsSettings
from acs_exporter.definitions import tables
from acs_exporter.definitions.metrics import OUTCOME_LABELS, MetricDef
from acs_exporter.definitions.tables import (
    BUILTIN,
    CALL_SUMMARY,
    EXTRA_LABELS,
    MEDIA_SUMMARY,
    Column,
    Dimension,
    LabelPlan,
    LogTable,
    by_spelling,
    register,
)
from acs_exporter.exposition.text import render_text
from acs_exporter.pipeline.checkpoint import Checkpoint
from acs_exporter.pipeline.daemon import Exporter
from acs_exporter.pipeline.state import State
from acs_exporter.sources.files.settings import FilesSettings
from acs_exporter.sources.files.source import FilesSource
from acs_exporter.sources.formats.detect import detect_format
from acs_exporter.sources.loganalytics.kql import QuerySpec, Window
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from acs_exporter.sources.loganalytics.source import LogAnalyticsSource

ROOT = Path(__file__).resolve().parents[2]

# Shaped like ACSCallClientOperations: one more table, defined in this test only.
CLIENT_OPERATIONS = LogTable(
    name="ACSCallClientOperations",
    aliases=("CallClientOperations",),
    code=Column("OperationResultCode", "operationResultCode"),
    subcode=Column("OperationResultSubcode", "operationResultSubcode"),
    service_category=None,
    fixed=(Dimension("operation", Column("OperationName", "operationName"), "Operation"),),
    optional=(Dimension("platform", Column("OsPlatform", "osPlatform"), "OsPlatform"),),
    metric=MetricDef(
        "acs_call_client_operations",
        "counter",
        "Calling SDK operations by result code (one per ACSCallClientOperations row).",
        ("code", "subcode", "category", "operation"),
        ("platform", "source"),
    ),
    domain=Domain.CALLING_SDK,
    accounted=False,
    state_key="call_client_operations",
)
SCHEMA = (
    ("TimeGenerated", "datetime"),
    ("OperationName", "string"),
    ("OperationResultCode", "string"),
    ("OperationResultSubcode", "string"),
    ("OsPlatform", "string"),
    ("Type", "string"),
)
WS = "11111111-2222-3333-4444-555555555555"
WINDOW = Window.from_text("2026-11-25T10:00:00.1234567Z", "2026-11-25T10:05:00.0000000Z")


@pytest.fixture
def client_operations() -> Iterator[LogTable]:
    with register(CLIENT_OPERATIONS):
        yield CLIENT_OPERATIONS


@pytest.fixture(scope="module")
def kusto() -> Iterator[KustoChecker]:
    require_tool("node")
    require_path(PACKAGE, "@kusto/language-service-next (run `make test`, which runs npm ci)")
    checker = KustoChecker(tables={**TABLES, CLIENT_OPERATIONS.name: SCHEMA})
    yield checker
    checker.close()


@pytest.mark.parametrize(
    ("mode", "labels"), [("aggregated", ()), ("aggregated", ("platform",)), ("raw", ("platform",))]
)
def test_the_new_tables_kql_is_valid_kusto(
    kusto: KustoChecker, mode: Any, labels: tuple[str, ...]
) -> None:
    spec = QuerySpec(CLIENT_OPERATIONS, mode, labels)
    query = spec.render(WINDOW, lookback=timedelta(days=3))
    analysis = kusto.analyze(query)
    assert analysis.diagnostics == (), [d.describe(query) for d in analysis.diagnostics]
    assert tuple(name for name, _ in analysis.columns) == spec.result_columns()
    assert spec.result_columns()[:3] == ("Code", "Subcode", "Operation")
    assert "OperationResultCode" in query
    assert ("OsPlatform" in query) == bool(labels)


def test_a_label_the_table_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match=r"call_type.*not columns of ACSCallClientOperations"):
        QuerySpec(CLIENT_OPERATIONS, labels=("call_type",))


def _write_exports(tmp_path: Path) -> list[Path]:
    jsonl = tmp_path / "records.jsonl"
    record = {
        "category": "CallClientOperations",
        "properties": {"operationName": "Join", "operationResultCode": "0"},
    }
    jsonl.write_text(json.dumps(record) + "\n")
    csv = tmp_path / "export.csv"  # no Type column: the end-code column says the table
    csv.write_text(
        "TimeGenerated,OperationName,OperationResultCode,OperationResultSubcode\n"
        "2026-11-25T10:00:00Z,Join,403,1\n"
    )
    document = {
        "tables": [
            {
                "name": "PrimaryResult",
                "columns": [{"name": n, "type": t} for n, t in SCHEMA],
                "rows": [
                    ["2026-11-25T10:00:00Z", "Join", "0", None, "Android", CLIENT_OPERATIONS.name]
                ],
            }
        ]
    }
    result = tmp_path / "query-result.json"
    result.write_text(json.dumps(document))
    return [jsonl, csv, result]


def _files_source(paths: list[Path]) -> FilesSource:
    model = FilesSettings.model_validate({"type": "files", "paths": [str(p) for p in paths]})
    return FilesSource(
        model.model_copy(
            update={"poll_interval": timedelta(0), "unterminated_line_timeout": timedelta(0)}
        )
    )


def test_one_definition_is_read_aggregated_exposed_and_saved(
    tmp_path: Path, client_operations: LogTable
) -> None:
    batch = _files_source(_write_exports(tmp_path)).fetch(None)
    assert batch.rejected == {}
    seen = sorted((o.code, o.subcode, o.dimensions, o.n) for o in batch.of(client_operations))
    assert seen == [
        ("0", None, (("operation", "Join"),), 1),
        ("0", None, (("operation", "Join"), ("platform", "Android")), 1),
        ("403", "1", (("operation", "Join"),), 1),
    ]
    assert not batch.of(CALL_SUMMARY)
    assert not batch.of(MEDIA_SUMMARY)

    plan = LabelPlan(extra_labels=("platform",))
    exporter = Exporter(catalog=load_catalog(), source_names=["files"], plan=plan)
    exporter.complete_poll("files", batch, 0.1)
    text = render_text(exporter.snapshot())
    assert f"# HELP acs_call_client_operations_total {client_operations.metric.help}" in text
    assert "# TYPE acs_call_client_operations_total counter" in text
    lines = [line for line in text.splitlines() if line.startswith("acs_call_client_")]
    assert len(lines) == 3, lines
    assert (
        'acs_call_client_operations_total{category="Unknown",code="403",operation="Join",'
        'platform="",subcode="1"} 1.0' in lines
    )
    assert (
        'acs_call_client_operations_total{category="Success",code="0",operation="Join",'
        'platform="Android",subcode="none"} 1.0' in lines
    )
    assert 'acs_exporter_folded_records_total{family="acs_call_client_operations_total"' in text
    # Not a call end: the call-end accounting stays untouched (accounted=False).
    assert "acs_call_ends_total{" not in text
    assert 'acs_exporter_unknown_end_reasons_total{source="files"} 0.0' in text

    data = exporter.state.to_data(plan)  # the checkpoint form, keyed by the table's state_key
    assert {item["family"] for item in data["series"]} == {"call_client_operations"}
    assert State.from_data(json.loads(json.dumps(data)), plan) == exporter.state


def test_without_the_definition_its_records_are_other_tables(tmp_path: Path) -> None:
    batch = _files_source(_write_exports(tmp_path)).fetch(None)
    assert batch.rejected == {"other_table": 2, "missing_field": 1}
    assert by_spelling("CallClientOperations") is None


def test_a_definition_cannot_shadow_another_table() -> None:
    twin = LogTable(**{**_fields(CLIENT_OPERATIONS), "aliases": ("CallSummary",)})
    with pytest.raises(ValueError, match="clashes"), register(twin):
        pass


def _fields(table: LogTable) -> dict[str, Any]:
    return {name: getattr(table, name) for name in LogTable.__dataclass_fields__}


def test_checkpoint_keys_and_domains_are_the_saved_ones() -> None:
    # Saved checkpoints name families by these keys: renaming one would lose counts on upgrade.
    assert [(t.name, t.state_key, t.domain) for t in BUILTIN] == [
        ("ACSCallSummary", "call_ends", Domain.CALL_END),
        ("ACSCallAutomationMediaSummary", "media_results", Domain.CALL_AUTOMATION),
    ]
    assert by_spelling(" callsummary ") is CALL_SUMMARY
    assert by_spelling("CALLAUTOMATIONMEDIASUMMARY") is MEDIA_SUMMARY


def test_the_extra_label_allow_list_exists_once() -> None:
    assert EXTRA_LABELS == (
        "call_type",
        "endpoint_type",
        "participant_type",
        "resource",
        "sdk_version",
        "os",
    )
    config = MetricsSettings.model_fields["extra_labels"].annotation
    assert get_args(get_args(config)[0]) == EXTRA_LABELS
    la = LogAnalyticsSettings.model_fields["extra_labels"].annotation
    assert get_args(get_args(la)[0]) == EXTRA_LABELS
    assert tuple(d.label for d in CALL_SUMMARY.optional) == EXTRA_LABELS
    kql = QuerySpec(CALL_SUMMARY, "aggregated", EXTRA_LABELS).result_columns()
    assert kql[3:-2] == tuple(d.result for d in CALL_SUMMARY.optional)
    schema = json.loads((ROOT / "deploy/helm/acs-exporter/values.schema.json").read_text())
    assert _extra_label_enums(schema) == [list(EXTRA_LABELS)] * len(_extra_label_enums(schema))
    assert _extra_label_enums(schema), "the chart schema lists no extra_labels enum"


def _extra_label_enums(node: object) -> list[list[str]]:
    """Every enum under an `extra_labels` property of the chart's values schema."""
    found: list[list[str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "extra_labels":
                found += _enums(value)
            else:
                found += _extra_label_enums(value)
    elif isinstance(node, list):
        for item in node:
            found += _extra_label_enums(item)
    return found


def _enums(node: object) -> list[list[str]]:
    if isinstance(node, dict):
        own = [node["enum"]] if "enum" in node else []
        return own + [e for value in node.values() for e in _enums(value)]
    if isinstance(node, list):
        return [e for item in node for e in _enums(item)]
    return []


def test_a_csv_is_recognised_by_the_new_tables_end_code_column(
    client_operations: LogTable,
) -> None:
    # No `.csv` name and no TimeGenerated or Type column: only the end-code column tells.
    head = b"OperationName,OperationResultCode\nJoin,0\n"
    assert detect_format(head, Path("export.txt")) == "csv"


def test_the_metric_definitions_carry_the_tables_labels() -> None:
    for table in BUILTIN:
        assert table.metric.labels == (*OUTCOME_LABELS, *(d.label for d in table.fixed))
        assert table.metric.optional_labels == (*(d.label for d in table.optional), "source")


CHECKPOINTS = ROOT / "tests" / "fixtures" / "checkpoints"


def test_a_checkpoint_written_before_tables_py_reads_exactly(tmp_path: Path) -> None:
    # Written by the exporter before the tables were defined once (call_ends / media_results
    # keys): read, it gives the same counts, and saved again, the same bytes. An upgrade
    # neither loses nor double-counts.
    saved = CHECKPOINTS / "before-tables.json"
    path = tmp_path / "state.json"
    path.write_bytes(saved.read_bytes())
    plan = LabelPlan(extra_labels=("call_type",))
    state = Checkpoint(path, plan).load()
    calls = {k[1:]: v for (_, k), v in state.series.items() if k[0] == CALL_SUMMARY.state_key}
    media = {k[1:]: v for (_, k), v in state.series.items() if k[0] == MEDIA_SUMMARY.state_key}
    assert calls == {
        ("0", "0", "Success", ("P2P",)): 5,
        ("487", "10003", "Success", ("Group",)): 2,  # the catalog's row (category_source)
        ("malformed", "none", "Unknown", ("",)): 1,
        ("999", "1", "Unknown", ("",)): 3,
    }
    assert media == {("8500", "0", "Unknown", ("Play",)): 4}
    assert state.sources["files"].records_read == 15
    Checkpoint(path, plan).save(state)
    assert path.read_bytes() == saved.read_bytes()


def test_the_saved_counts_are_exposed_as_before(tmp_path: Path) -> None:
    # before-tables.metrics.txt: what the exporter before tables.py served for that checkpoint
    # (outcome families, their folded-label zeros and the accounting, in order).
    path = tmp_path / "state.json"
    path.write_bytes((CHECKPOINTS / "before-tables.json").read_bytes())
    plan = LabelPlan(extra_labels=("call_type",))
    exporter = Exporter(
        catalog=load_catalog(), source_names=["files"], plan=plan, checkpoint=Checkpoint(path, plan)
    )
    keep = (
        "acs_call_",
        "acs_exporter_folded",
        "acs_exporter_records",
        "acs_exporter_unknown",
        "acs_exporter_malformed",
        "acs_exporter_series",
    )
    keep += tuple(f"# {kind} {k}" for kind in ("HELP", "TYPE") for k in keep)
    # The platform-metric families came later (issue #15): new, empty, not in that release.
    later = tuple(t.metric.name for t in tables.PLATFORM_METRICS)
    lines = [
        x
        for x in render_text(exporter.snapshot()).splitlines()
        if x.startswith(keep) and not any(name in x for name in later)
    ]
    expected = (CHECKPOINTS / "before-tables.metrics.txt").read_text().splitlines()
    assert lines == expected


def test_the_log_analytics_source_queries_and_reads_the_new_table(
    kusto: KustoChecker, client_operations: LogTable
) -> None:
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    clock = [now]
    with FakeLogAnalytics(kusto, clock=lambda: clock[0]) as server:
        server.add_workspace(WS)
        settings = LogAnalyticsSettings(
            type="log_analytics",
            workspace_ids=[WS],
            endpoint=server.url,
            tls_ca_file=server.ca_file,
            mode="raw",
        )
        # `tables:` accepts the shipped tables only: a test table is set past validation.
        settings = settings.model_copy(update={"tables": [client_operations.name]})
        plan = LabelPlan(extra_labels=("platform",))
        source = LogAnalyticsSource(
            settings, credential=FakeCredential(), clock=lambda: clock[0], plan=plan
        )
        try:
            cursor = source.fetch(None).cursor
            row = {
                "TimeGenerated": now,
                "OperationName": "Join",
                "OperationResultCode": "500",
                "OsPlatform": "iOS",
                "_IngestedAt": now + timedelta(seconds=1),
            }
            server.add_records(WS, client_operations.name, [row, row])
            clock[0] = now + timedelta(minutes=3)
            batch = source.fetch(cursor)
        finally:
            source.close()
    assert [(o.code, o.subcode, o.dimensions, o.n) for o in batch.of(client_operations)] == [
        ("500", None, (("operation", "Join"), ("platform", "iOS")), 2)
    ]
    assert isinstance(batch.cursor, dict)
    assert client_operations.name in str(batch.cursor)
