"""The `reason` label values each kind of source can produce, so their counters start at 0.

The Prometheus "writing exporters" guide asks for known label values to be exported from the
start: `rate()` and dashboards then see 0 rather than "no data", and an alert sees the first
error as an increase. Each source type's own reasons are defined by its module and listed in its
registry entry (acs_exporter.sources.registry); docs/metrics.md (query errors) and
docs/sources.md (rejections) list them too, and tests keep the docs in step with the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from acs_exporter.sources.registry import source_type


class DaemonQueryError(StrEnum):
    """Failed polls the daemon itself counts, whatever the source."""

    CHECKPOINT_WRITE = "checkpoint_write"  # the batch could not be persisted
    INTERNAL = "internal"  # an unexpected error in a source or in applying its batch


class DaemonRejection(StrEnum):
    """Records the daemon itself rejects, whatever the source."""

    # An observation with a negative count (a source's or a custom query's bug) cannot be
    # counted. Also gives every source kind a zero series of
    # acs_exporter_records_rejected_total, so its dashboard panel has data everywhere.
    INVALID_COUNT = "invalid_count"


DAEMON_QUERY_ERRORS: tuple[str, ...] = tuple(map(str, DaemonQueryError))
DAEMON_REJECTIONS: tuple[str, ...] = tuple(map(str, DaemonRejection))


@dataclass(frozen=True)
class KnownReasons:
    query_errors: tuple[str, ...] = DAEMON_QUERY_ERRORS
    rejections: tuple[str, ...] = DAEMON_REJECTIONS


def known_reasons(type_name: str) -> KnownReasons:
    """The reasons of a `sources:` entry's `type`."""
    entry = source_type(type_name)
    return KnownReasons(
        query_errors=(*DAEMON_QUERY_ERRORS, *map(str, entry.known_query_errors())),
        rejections=(*DAEMON_REJECTIONS, *map(str, entry.rejections)),
    )
