"""The example config is valid and the reference documents every key."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel

from acs_exporter.config import SOURCE_MODELS, Settings
from support.daemon_helpers import run_cli

REPO = Path(__file__).resolve().parents[2]


def keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out += keys(annotation, f"{prefix}{name}.")
        else:
            out.append(prefix + name)
    return out


def test_example_config_is_valid_and_shows_every_key() -> None:
    example = REPO / "examples" / "config.yaml"
    result = run_cli(["check-config", "--quiet", str(example)])
    assert result.returncode == 0, result.stderr
    text = example.read_text()
    document = yaml.safe_load(text)
    for key in keys(Settings):
        section, _, name = key.partition(".")
        assert section in document, key
        if name:
            assert name in document[section], key
    for kind, model in SOURCE_MODELS.items():
        for key in keys(model):
            assert re.search(rf"#?\s+{key}:|- type: {kind}", text), (kind, key)


def test_reference_lists_every_key_and_its_environment_variable() -> None:
    doc = (REPO / "docs" / "configuration.md").read_text()
    for key in keys(Settings):
        assert f"| `{key}` |" in doc, key
        variable = "ACS_EXPORTER_" + key.upper().replace(".", "__")
        assert f"`{variable}`" in doc, variable
    for kind, model in SOURCE_MODELS.items():
        section = doc.split(f"### `type: {kind}`", 1)[1].split("\n## ", 1)[0].split("\n### ")[0]
        for key in keys(model):
            if key != "type":
                assert f"| `{key}` |" in section, (kind, key)
