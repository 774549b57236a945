"""The catalog contract: public names the rest of the code imports (see catalog/__init__.py).

The implementation is split by job: codes.py (parsing raw codes), model.py (value types),
schema.py (file schema), loader.py (files, with line numbers in errors), resolver.py (the
resolution order).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from acs_exporter.catalog.codes import MalformedCode, is_missing, parse_code, parse_subcode
from acs_exporter.catalog.loader import (
    CatalogError,
    read_catalog_file,
    read_shipped,
    to_entry,
    to_rules,
)
from acs_exporter.catalog.model import Category, Domain, Entry, Provenance, Resolution
from acs_exporter.catalog.resolver import Catalog, normalise_category

__all__ = [
    "Catalog",
    "CatalogError",
    "Category",
    "Domain",
    "Entry",
    "MalformedCode",
    "Provenance",
    "Resolution",
    "is_missing",
    "load_catalog",
    "normalise_category",
    "parse_code",
    "parse_subcode",
]


def load_catalog(overrides: Sequence[Path] = ()) -> Catalog:
    """The shipped catalog, then each override file in order (later files win).

    An override entry replaces the shipped entry with the same (domain, code, subcode), or
    adds a new one; an override rule replaces the rule for its codes. Raises CatalogError
    naming file, line and reason for the first invalid file.
    """
    shipped = read_shipped()
    entries = [to_entry(model, "") for model in shipped.entries]
    rules = to_rules(shipped, "")
    for path in overrides:
        override = read_catalog_file(Path(path))
        entries.extend(to_entry(model, str(path)) for model in override.entries)
        rules.extend(to_rules(override, str(path)))
    return Catalog(entries, rules=rules)
