"""Fuzzed configuration values: every document either loads or is a ConfigError, and no error
ever quotes a string that was written in it (strings may be secrets)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acs_exporter.config import YAML_LIMITS, ConfigError, Settings, load_settings, masked_dump
from acs_exporter.inputs import safeyaml
from acs_exporter.sources.files.settings import FilesSettings
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from acs_exporter.sources.simulator.settings import SimulatorSettings

MARK = "qzx"  # every generated string starts with it, so a leak is recognisable


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("ACS_EXPORTER_"):
            monkeypatch.delenv(key)


texts = st.text(min_size=2, max_size=12).map(lambda text: MARK + text)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
    st.sampled_from(["0s", "-5s", "1ms", "15s", "99999999999w", "1d", "PT1M", "", " "]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


def fields(model: type[Any]) -> list[str]:
    return list(model.model_fields)


SECTIONS = {
    name: fields(annotation)
    for name, field in Settings.model_fields.items()
    if isinstance(annotation := field.annotation, type) and hasattr(annotation, "model_fields")
}
SOURCE_TYPES = {
    "simulator": fields(SimulatorSettings),
    "files": fields(FilesSettings),
    "log_analytics": fields(LogAnalyticsSettings),
}


@st.composite
def sources(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(SOURCE_TYPES)))
    keys = draw(st.lists(st.sampled_from(SOURCE_TYPES[kind]), max_size=4, unique=True))
    entry: dict[str, Any] = {key: draw(values) for key in keys}
    entry["type"] = draw(st.sampled_from([kind, kind, MARK + "kind"]))
    return entry


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for section in draw(st.lists(st.sampled_from(sorted(SECTIONS)), max_size=4, unique=True)):
        keys = draw(st.lists(st.sampled_from(SECTIONS[section]), max_size=3, unique=True))
        document[section] = {key: draw(values) for key in keys}
        if draw(st.booleans()):
            document[section] = draw(values)  # a section that is not a mapping
    if draw(st.booleans()):
        document["sources"] = draw(st.lists(sources(), max_size=3))
    return document


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_fuzzed_documents_load_or_fail_cleanly(tmp_path_factory: Any, document: Any) -> None:
    path = Path(tmp_path_factory.mktemp("fuzz")) / "config.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    try:
        loaded = load_settings(path)
    except ConfigError as error:
        text = error.render()
        assert MARK not in text.replace(f".{MARK}", "").replace(f"{MARK}kind", ""), text
        for problem in error.problems:
            assert problem.where.startswith(str(path)), problem
        return
    masked_dump(loaded)  # a valid configuration can always be shown


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_fuzzed_bytes_never_escape_the_safe_loader(data: bytes) -> None:
    try:
        text = safeyaml.decode(data, YAML_LIMITS)
        safeyaml.load(text, YAML_LIMITS)
    except safeyaml.YamlProblem:
        pass
