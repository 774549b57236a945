"""Catalog files go through the same bounded loader as the config file: careless or hostile
override files are refused with file:line, quickly, never with a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from acs_exporter.catalog import CatalogError
from acs_exporter.catalog.loader import parse_catalog_text, read_catalog_file


def laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "entries: []\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("entries: " + "[" * 20_000 + "]" * 20_000 + "\n", "over.yaml:1: invalid YAML"),
        ("entries: " + "[" * 40 + "]" * 40 + "\n", "over.yaml:1: nested deeper than 32 levels"),
        (laughs(), "over.yaml:8: more than 1000000 values once aliases are expanded"),
        ("entries: &e [*e]\n", "over.yaml:1: alias *e refers to a node that contains it"),
        ("entries: []\nentries: []\n", "over.yaml:2: duplicate key 'entries' (first at line 1)"),
        ("entries:\n  - {code: 1, code: 2}\n", "over.yaml:2: duplicate key 'code'"),
        ("entries: []\n1: 2\n", "over.yaml:2: a mapping key must be a string"),
        ("entries:\n  - {code: 2001-02-30}\n", "over.yaml:2: invalid YAML: cannot read this value"),
        ("entries: []\x00\n", "over.yaml:1: binary data"),
        ("entries: []\n---\nrules: []\n", "over.yaml:2: invalid YAML: expected a single document"),
    ],
    ids=[
        "deep-20000",
        "deep-40",
        "alias-bomb",
        "recursive-alias",
        "duplicate-top",
        "duplicate-in-entry",
        "int-key",
        "impossible-date",
        "nul",
        "two-documents",
    ],
)
def test_hostile_catalog_text_is_refused(text: str, expected: str) -> None:
    with pytest.raises(CatalogError) as error:
        parse_catalog_text(text, "over.yaml")
    assert expected in str(error.value)


def test_huge_and_non_utf8_catalog_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(100 << 20)
    with pytest.raises(CatalogError, match="larger than 16 MiB"):
        read_catalog_file(big)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("entries: []\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(CatalogError, match=r"latin.yaml:2: .*expected UTF-8"):
        read_catalog_file(latin)
