"""Why an Azure Monitor metrics poll fails (`acs_exporter_query_errors_total`'s `reason`) and
why a series of a response is not counted (`acs_exporter_records_rejected_total`'s `reason`).
Defined once: the client, the parser and the source raise with them, the registry lists them so
their series start at 0, and a test checks docs/metrics.md against the registry."""

from __future__ import annotations

from enum import StrEnum


class QueryError(StrEnum):
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    AUTH = "auth"
    BAD_QUERY = "bad_query"
    # One resource of a batch failed (gone, moved, no access): nothing of the poll is counted.
    RESOURCE_ERROR = "resource_error"
    # As many series as the request's `top`: some may be missing, so nothing is counted.
    TRUNCATED = "truncated"


class Rejection(StrEnum):
    # A series without a dimension its family is labelled by (its events are counted here).
    MISSING_DIMENSION = "missing_dimension"
    # A data point whose count is not a whole number >= 0.
    INVALID_VALUE = "invalid_value"
