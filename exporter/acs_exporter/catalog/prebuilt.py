"""The shipped catalog in its prebuilt form: data/catalog.json, the validated entries and rules.

Loading and validating catalog.yaml (PyYAML, the pydantic schema, line tracking) took most of
the exporter's start-up. tools/catalog/build.py writes this form beside the YAML from the YAML's
validated form (`loader.read_shipped`, `to_entry`, `to_rules`); start-up reads it with orjson
into the same `Entry` and `CodeRule` values, with nothing left to check. The two cannot drift:
`tests/catalog/test_prebuilt.py` rebuilds it from the YAML and compares bytes and values, and
`build.py --check` fails on either file out of date.

    {"version": 1,
     "entries": [[code, subcode, category, message, advice, domain, source, notes], ...],
     "rules": [[code, category, reason, source, without_subcode], ...]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple
from importlib import resources

import orjson

from acs_exporter.catalog.model import Category, CodeRule, Domain, Entry

PREBUILT = "catalog.json"
VERSION = 1


def dumps_prebuilt(entries: Sequence[Entry], rules: Sequence[CodeRule]) -> bytes:
    """The prebuilt form's bytes (stable: what build.py writes and the test compares)."""
    document = {
        "version": VERSION,
        "entries": [list(astuple(entry)) for entry in entries],
        "rules": [list(astuple(rule)) for rule in rules],
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def loads_prebuilt(data: bytes) -> tuple[list[Entry], list[CodeRule]]:
    document = orjson.loads(data)
    if document.get("version") != VERSION:
        raise ValueError(f"{PREBUILT}: version {document.get('version')!r}, expected {VERSION}")
    entries = [
        Entry(code, sub, None if cat is None else Category(cat), msg, advice, Domain(dom), src, n)
        for code, sub, cat, msg, advice, dom, src, n in document["entries"]
    ]
    rules = [
        CodeRule(code, Category(category), reason, source, without_subcode)
        for code, category, reason, source, without_subcode in document["rules"]
    ]
    return entries, rules


def read_prebuilt() -> tuple[list[Entry], list[CodeRule]]:
    """The shipped entries and rules (the package's data/catalog.json)."""
    data = resources.files("acs_exporter.catalog").joinpath("data", PREBUILT).read_bytes()
    return loads_prebuilt(data)
