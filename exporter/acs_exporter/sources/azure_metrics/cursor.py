"""The Azure Monitor metrics cursor: per ACS resource, the exclusive end of the last minute
counted (`2026-11-25T12:03:00Z`): every bucket before it is in the counts saved with it.

Saved in the shared envelope as `{"kind": "azure_metrics", "version": 1, "position":
{resource id in lower case: end}}`. Resource ids are case-insensitive in Azure, so the key is
lower-cased: a configuration that changes the spelling continues where it stopped.
"""

from __future__ import annotations

from datetime import UTC, datetime

from acs_exporter.inputs.redact import shorten_repr
from acs_exporter.sources.base import Cursor
from acs_exporter.sources.cursor import CursorFormat

CURSOR_FORMAT = CursorFormat("azure_metrics", 1)

# resource key (lower-cased id) -> exclusive end of the counted minutes
Positions = dict[str, datetime]


def resource_key(resource_id: str) -> str:
    return resource_id.lower()


def format_minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_cursor(cursor: Cursor) -> Positions:
    """The positions of a saved cursor ({} on a first start); a damaged one is `bad_cursor`."""
    position = CURSOR_FORMAT.unwrap(cursor)
    if position is None:
        return {}
    if not isinstance(position, dict):
        raise CURSOR_FORMAT.error("its position is not an object of resources")
    return {key: _minute(key, value) for key, value in position.items()}


def _minute(key: str, value: Cursor) -> datetime:
    try:
        if not isinstance(value, str):
            raise ValueError
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise CURSOR_FORMAT.error(
            f"bad position for resource {key}: {shorten_repr(value)} (expected "
            "YYYY-MM-DDTHH:MM:00Z)"
        ) from None
    if moment.second or moment.microsecond:
        raise CURSOR_FORMAT.error(f"position for resource {key} is not on a minute: {value}")
    return moment


def dump_cursor(positions: Positions) -> Cursor:
    return CURSOR_FORMAT.wrap({key: format_minute(positions[key]) for key in sorted(positions)})
