"""The prebuilt catalog (data/catalog.json, loaded at start-up) is the YAML's validated form.

catalog.yaml stays the reviewed source; if it changes without the prebuilt form being rebuilt
(`python tools/catalog/build.py`), these fail.
"""

from __future__ import annotations

from importlib import resources

import pytest

from acs_exporter.catalog import load_catalog
from acs_exporter.catalog.loader import read_shipped, to_entry, to_rules
from acs_exporter.catalog.model import CodeRule, Entry
from acs_exporter.catalog.prebuilt import dumps_prebuilt, loads_prebuilt, read_prebuilt


def yaml_form() -> tuple[list[Entry], list[CodeRule]]:
    shipped = read_shipped()  # PyYAML, the pydantic schema, the duplicate checks
    return [to_entry(model, "") for model in shipped.entries], to_rules(shipped, "")


def test_the_prebuilt_catalog_equals_the_yaml_validated_form() -> None:
    entries, rules = yaml_form()
    prebuilt_entries, prebuilt_rules = read_prebuilt()
    assert prebuilt_entries == entries
    assert prebuilt_rules == rules
    assert len(entries) > 200
    assert rules


def test_the_committed_prebuilt_file_is_what_the_yaml_builds() -> None:
    committed = resources.files("acs_exporter.catalog").joinpath("data", "catalog.json")
    assert committed.read_bytes() == dumps_prebuilt(*yaml_form()), (
        "catalog.json is out of date: run python tools/catalog/build.py"
    )


def test_the_loaded_catalog_is_the_yaml_one() -> None:
    entries, _ = yaml_form()
    assert list(load_catalog().entries) == entries


def test_values_keep_their_types_through_the_prebuilt_form() -> None:
    entries, rules = yaml_form()
    again = loads_prebuilt(dumps_prebuilt(entries, rules))
    for entry, loaded in zip(entries, again[0], strict=True):
        assert [type(v) for v in vars(entry).values()] == [type(v) for v in vars(loaded).values()]


def test_an_unknown_prebuilt_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version 2, expected 1"):
        loads_prebuilt(b'{"version": 2, "entries": [], "rules": []}')
