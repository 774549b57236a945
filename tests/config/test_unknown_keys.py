"""An unknown key names the key and lists the keys allowed where it was written: in a source
(whose model depends on its `type`), in a section and in a catalog file; the web config's case
is in test_bad_input.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from acs_exporter.catalog import load_catalog
from acs_exporter.config import load_settings
from acs_exporter.inputs.errors import InputError
from acs_exporter.sources.files.settings import FilesSettings
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from acs_exporter.sources.simulator.settings import SimulatorSettings


def _only_problem(load: Callable[[], object]) -> str:
    """The one problem `load` refuses its input with (config, catalog: one InputError type)."""
    with pytest.raises(InputError) as caught:
        load()
    [problem] = caught.value.problems
    return problem.render()


def _keys(model: type[object]) -> str:
    fields = model.model_fields  # type: ignore[attr-defined]
    return ", ".join(field.alias or name for name, field in fields.items())


@pytest.mark.parametrize(
    ("source", "model"),
    [
        ("{type: simulator, calls_per_secnd: 3}", SimulatorSettings),
        ("{type: files, paths: [/x], polll_interval: 1s}", FilesSettings),
        ("{type: log_analytics, workspace_ids: [w], workspace_id: w}", LogAnalyticsSettings),
    ],
    ids=["simulator", "files", "log_analytics"],
)
def test_an_unknown_key_in_a_source_lists_that_source_types_keys(
    tmp_path: Path, source: str, model: type[object]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"sources:\n  - {source}\n")
    problem = _only_problem(lambda: load_settings(path))
    assert problem.startswith(f"{path}:2: sources[0].")
    assert problem.endswith(f": unknown key; expected one of: {_keys(model)}"), problem


def test_an_unknown_key_from_the_environment_lists_the_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACS_EXPORTER_SOURCES", '[{"type": "simulator", "sed": 1}]')
    problem = _only_problem(lambda: load_settings(None))
    assert "sources[0].sed" in problem
    assert f"expected one of: {_keys(SimulatorSettings)}" in problem


def test_an_unknown_key_in_a_catalog_entry_lists_the_keys(tmp_path: Path) -> None:
    path = tmp_path / "override.yaml"
    path.write_text(
        "entries:\n  - {code: 487, subcode: 0, category: Success, message: m, advice: a, "
        "colour: r}\n"
    )
    problem = _only_problem(lambda: load_catalog([path]))
    assert "entries[0].colour: unknown key; expected one of: " in problem, problem
    assert "code, subcode" in problem
