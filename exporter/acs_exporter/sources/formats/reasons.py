"""Why the files source rejects a record (the `reason` of
`acs_exporter_records_rejected_total`), defined once for the source registry and the test that
checks docs/sources.md against it. (An unreadable file is retried next poll, so the files source
has no query errors of its own beyond the shared `bad_cursor`.)"""

from __future__ import annotations

from enum import StrEnum


class Rejection(StrEnum):
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    OTHER_TABLE = "other_table"
    INVALID_ENCODING = "invalid_encoding"
    WRONG_FIELD_COUNT = "wrong_field_count"
    INVALID_CSV = "invalid_csv"
    INVALID_ROW = "invalid_row"
    INVALID_DOCUMENT = "invalid_document"
    UNKNOWN_FORMAT = "unknown_format"
    LINE_TOO_LONG = "line_too_long"
    DOCUMENT_TOO_LARGE = "document_too_large"
    PARTIAL_RESULT = "partial_result"  # a saved query result the service marked partial
