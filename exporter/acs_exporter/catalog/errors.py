"""The catalog's one error, apart from the loader so that catching it imports no YAML or schema."""

from __future__ import annotations

from acs_exporter.inputs.errors import InputError


class CatalogError(InputError):
    """A catalog or override file is invalid; each problem names file, line and reason."""

    subject = "catalog file"
