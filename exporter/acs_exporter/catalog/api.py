"""The catalog contract: public names the rest of the code imports (see catalog/__init__.py).

The implementation is split by job: codes.py (parsing raw codes), model.py (value types),
schema.py (file schema), loader.py (files, with line numbers in errors), prebuilt.py (the
shipped data as loaded at start-up), resolver.py (the resolution order).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from acs_exporter.catalog.codes import MalformedCode, is_missing, parse_code, parse_subcode
from acs_exporter.catalog.errors import CatalogError
from acs_exporter.catalog.model import Category, Domain, Entry, Provenance, Resolution
from acs_exporter.catalog.prebuilt import read_prebuilt
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
    # The prebuilt form of the shipped data (prebuilt.py): no YAML, no schema at start-up.
    # The loader (PyYAML, pydantic models) is imported only for override files.
    entries, rules = read_prebuilt()
    if overrides:
        from acs_exporter.catalog.loader import read_catalog_file, to_entry, to_rules
    for path in overrides:
        override = read_catalog_file(Path(path))
        entries.extend(to_entry(model, str(path)) for model in override.entries)
        rules.extend(to_rules(override, str(path)))
    return Catalog(entries, rules=rules)
