"""The `reason` label values each kind of source can produce, so their counters start at 0.

The Prometheus "writing exporters" guide asks for known label values to be exported from the
start: `rate()` and dashboards then see 0 rather than "no data", and an alert sees the first
error as an increase. The lists are those of docs/metrics.md (query errors) and docs/sources.md
(rejections); tests keep the three in step.
"""

from __future__ import annotations

from dataclasses import dataclass

# Failed polls the daemon itself counts, whatever the source.
DAEMON_QUERY_ERRORS = ("checkpoint_write", "internal")
# Records the daemon itself rejects, whatever the source: an observation with a negative count
# (a source's or a custom query's bug) cannot be counted. Also gives every source kind a zero
# series of acs_exporter_records_rejected_total, so its dashboard panel has data everywhere.
DAEMON_REJECTIONS = ("invalid_count",)

_QUERY_ERRORS: dict[str, tuple[str, ...]] = {
    "simulator": ("record_file",),
    "files": (),  # an unreadable file is retried next poll; bad records are rejections
    "log_analytics": (
        "throttled",
        "server_error",
        "timeout",
        "connection",
        "auth",
        "bad_query",
        "partial",
        "truncated",
    ),
}

_REJECTIONS: dict[str, tuple[str, ...]] = {
    "simulator": (),
    "files": (
        "invalid_json",
        "not_an_object",
        "missing_field",
        "wrong_type",
        "other_table",
        "invalid_encoding",
        "wrong_field_count",
        "invalid_csv",
        "invalid_row",
        "invalid_document",
        "unknown_format",
        "line_too_long",
        "document_too_large",
        "partial_result",
    ),
    "log_analytics": (),  # a bad response fails the whole poll (a query error)
}


@dataclass(frozen=True)
class KnownReasons:
    query_errors: tuple[str, ...] = DAEMON_QUERY_ERRORS
    rejections: tuple[str, ...] = DAEMON_REJECTIONS


def known_reasons(source_type: str) -> KnownReasons:
    """The reasons of a `sources:` entry's `type`."""
    return KnownReasons(
        query_errors=(*DAEMON_QUERY_ERRORS, *_QUERY_ERRORS[source_type]),
        rejections=(*DAEMON_REJECTIONS, *_REJECTIONS[source_type]),
    )
