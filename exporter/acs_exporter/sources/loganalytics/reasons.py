"""Why a Log Analytics poll fails: the `reason` label values of
`acs_exporter_query_errors_total` this source raises (a damaged cursor is the shared
`bad_cursor` of acs_exporter.sources.cursor). Defined once: errors.py, client.py and source.py
raise with them, the source registry lists them for the zero-initialised series, and a test
checks docs/metrics.md against the registry."""

from __future__ import annotations

from enum import StrEnum


class QueryError(StrEnum):
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    AUTH = "auth"
    BAD_QUERY = "bad_query"
    PARTIAL = "partial"
    TRUNCATED = "truncated"
