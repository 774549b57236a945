"""`acs-exporter query --print`: what it prints is valid Kusto, for every configured source."""

from __future__ import annotations

from pathlib import Path

import pytest

from acs_exporter.cli import main
from acs_exporter.sources.base import Cursor
from acs_exporter.sources.loganalytics.cursor import dump_cursor

from .kusto import KustoChecker


def test_prints_valid_kql_for_each_table_and_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kusto: KustoChecker
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        """
metrics: {extra_labels: [call_type, endpoint_type]}
sources:
  - type: log_analytics
    name: prod
    workspace_ids: [11111111-1111-1111-1111-111111111111, 22222222-2222-2222-2222-222222222222]
    resource_ids:
      - /subscriptions/s/resourceGroups/rg/providers/Microsoft.Communication/CommunicationServices/a
    tables: [ACSCallSummary, ACSCallAutomationMediaSummary]
  - type: log_analytics
    name: raw
    mode: raw
    workspace_ids: [33333333-3333-3333-3333-333333333333]
"""
    )
    assert main(["query", "--print", "--config.file", str(config)]) == 0
    out = capsys.readouterr().out
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 5  # 2 tables x 2 targets + 1
    for block in blocks:
        analysis = kusto.analyze(block)
        assert analysis.diagnostics == (), block
    assert "CallType, EndpointType" in blocks[0]  # metrics.extra_labels are grouped by
    assert "select all of them as the scope" in blocks[0]
    assert "project Code = ParticipantEndReason" in blocks[-1]


def test_without_a_log_analytics_source_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("sources: []\n")
    assert main(["query", "--print", "--config.file", str(config)]) == 2
    assert "no source of type log_analytics" in capsys.readouterr().err


def test_invalid_source_settings_name_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("sources:\n  - type: log_analytics\n    time_generated_lookback: 1h\n")
    assert main(["query", "--print", "--config.file", str(config)]) == 2
    err = capsys.readouterr().err
    assert "sources[0]" in err


WS = "11111111-1111-1111-1111-111111111111"
WATERMARK = "2026-11-25T09:00:00.1234567Z"


def config_with_checkpoint(tmp_path: Path, cursor: Cursor) -> Path:
    """A config with one Log Analytics source `prod` whose checkpoint entry holds `cursor`."""
    from acs_exporter.definitions.tables import LabelPlan
    from acs_exporter.pipeline.aggregate import Delta
    from acs_exporter.pipeline.checkpoint import Checkpoint
    from acs_exporter.pipeline.state import State

    state_path = tmp_path / "checkpoint.json"
    Checkpoint(state_path, LabelPlan()).save(State().apply("prod", Delta(), cursor, 2000))
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state: {{path: {state_path}}}\n"
        "sources:\n"
        "  - type: log_analytics\n"
        "    name: prod\n"
        f"    workspace_ids: [{WS}]\n"
        "    max_window: 30m\n"
    )
    return config


@pytest.mark.parametrize(
    "cursor",
    [
        # as the previous release saved it, and as the source saves it now
        {"v": 1, "tables": {"ACSCallSummary": {f"workspace:{WS}": WATERMARK}}},
        dump_cursor({"ACSCallSummary": {f"workspace:{WS}": WATERMARK}}),
    ],
    ids=["legacy", "current"],
)
def test_continues_from_the_checkpoint_cursor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kusto: KustoChecker, cursor: Cursor
) -> None:
    watermark = WATERMARK
    config = config_with_checkpoint(tmp_path, cursor)
    assert main(["query", "--print", "--config.file", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"ingestion_time() > datetime({watermark})" in out
    assert "ingestion_time() <= datetime(2026-11-25T09:30:00.1234567Z)" in out
    assert kusto.analyze(out).diagnostics == ()


def test_a_damaged_checkpoint_cursor_is_named_and_the_queries_still_print(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kusto: KustoChecker
) -> None:
    config = config_with_checkpoint(tmp_path, {"kind": "log_analytics", "version": 99})
    assert main(["query", "--print", "--config.file", str(config)]) == 0
    captured = capsys.readouterr()
    assert "source 'prod'" in captured.err
    assert "log_analytics cursor is not readable" in captured.err
    assert "Traceback" not in captured.err
    assert "ACSCallSummary" in captured.out  # the steady-state window instead
    assert kusto.analyze(captured.out).diagnostics == ()


def test_no_command_imports_another_command() -> None:
    """Shared helpers live in commands/common.py: a command can change without breaking
    another."""
    import ast

    import acs_exporter.commands as package

    folder = Path(package.__file__).parent
    commands = {p.stem for p in folder.glob("*.py") if "def register(" in p.read_text()}
    assert {"run", "query", "catalog", "check_config", "explain"} <= commands
    for name in commands:
        tree = ast.parse((folder / f"{name}.py").read_text())
        imported = {
            node.module.rsplit(".", 1)[-1]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("acs_exporter.commands")
        } | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "acs_exporter.commands"
            for alias in node.names
        }
        assert not imported & (commands - {name}), (name, imported & commands)
