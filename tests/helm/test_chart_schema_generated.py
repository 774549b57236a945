"""values.schema.json's `config.sources` entries are generated from the source settings models
(generators/chart_schema.py, `make chart-schema`): the committed schema is what the generator
writes, and its check mode names the stale file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from generators import chart_schema
from helm_support import CHART_DIR
from helm_support import run_generator as run_module

SCHEMA = CHART_DIR / "values.schema.json"


def run_generator(*args: str) -> subprocess.CompletedProcess[str]:
    return run_module("generators.chart_schema", *args)


def test_the_committed_schema_is_what_the_generator_writes() -> None:
    current = SCHEMA.read_text()
    assert chart_schema.render(chart_schema.with_sources(json.loads(current))) == current, (
        "values.schema.json is stale: run `make chart-schema` and commit it"
    )


def test_check_mode_names_a_stale_schema_and_the_generator_repairs_it(tmp_path: Path) -> None:
    stale = tmp_path / "values.schema.json"
    shutil.copy(SCHEMA, stale)
    schema = json.loads(stale.read_text())
    branch = schema["properties"]["config"]["properties"]["sources"]["items"]["allOf"][0]
    del branch["then"]["properties"]["seed"]
    stale.write_text(json.dumps(schema, indent=2) + "\n")

    checked = run_generator("--check", "--schema", str(stale))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert str(stale) in checked.stderr
    assert "make chart-schema" in checked.stderr

    written = run_generator("--schema", str(stale))
    assert written.returncode == 0, written.stderr
    assert stale.read_bytes() == SCHEMA.read_bytes()
    assert run_generator("--check", "--schema", str(stale)).returncode == 0


def test_every_duration_takes_its_range_from_the_model() -> None:
    """A duration key without a range would fall back to `any duration`: each one has its
    `between(...)` check, so the schema holds exact bounds for numbers of seconds."""
    models = [*chart_schema.SOURCE_MODELS, *chart_schema.section_models().values()]
    assert len(models) > len(chart_schema.SOURCE_MODELS)
    for model in models:
        for name, node in model.model_json_schema()["properties"].items():
            if "duration" in json.dumps(node):
                bounds = chart_schema.duration_range(model.model_fields[name])
                assert bounds is not None, f"{model.__name__}.{name}: no DurationRange"


def test_section_durations_in_the_schema_carry_the_models_bounds() -> None:
    config = json.loads(SCHEMA.read_text())["properties"]["config"]["properties"]
    interval = config["otlp"]["properties"]["interval"]
    assert {"type": "number", "minimum": 0.1, "maximum": 3600} in interval["anyOf"]
    assert interval["description"]
