"""Why a simulator poll fails (the `reason` of `acs_exporter_query_errors_total`), defined once:
simulator.py raises with it and the source registry lists it."""

from __future__ import annotations

from enum import StrEnum


class QueryError(StrEnum):
    RECORD_FILE = "record_file"  # record_file could not be appended to
