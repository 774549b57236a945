"""The Log Analytics cursor: one exclusive ingestion-time watermark per (table, target).

Saved in the shared envelope (acs_exporter.sources.cursor) as
`{"kind": "log_analytics", "version": 1, "position": {table: {target key: watermark}}}`, each
watermark a Kusto datetime string at full precision. The previous release saved
`{"v": 1, "tables": {...}}` (the same position, no envelope); it is still read, so an upgrade
continues where the old version stopped. Owned here, used by the source and by
`acs-exporter query --print`, so that no one writes this layout by hand.
"""

from __future__ import annotations

from acs_exporter.sources.base import Cursor
from acs_exporter.sources.cursor import CursorFormat
from acs_exporter.sources.loganalytics.timestamps import InvalidTimestamp, canonical

# table -> target key -> exclusive watermark
Positions = dict[str, dict[str, str]]

_LEGACY_VERSION_KEY = "v"
_LEGACY_VERSION = 1


def _legacy_position(cursor: dict[str, Cursor]) -> Cursor | None:
    """The position of a cursor saved before the envelope: `{"v": 1, "tables": ...}`."""
    if cursor.get(_LEGACY_VERSION_KEY) != _LEGACY_VERSION or "tables" not in cursor:
        return None
    return cursor["tables"]


CURSOR_FORMAT = CursorFormat("log_analytics", 1, legacy=_legacy_position)


def load_cursor(cursor: Cursor) -> Positions:
    """The positions in a saved cursor ({} on a first start). A damaged one is a SourceError
    `bad_cursor` naming what is wrong, never a reset (that would re-read and count twice)."""
    tables = CURSOR_FORMAT.unwrap(cursor)
    if tables is None:
        return {}
    if not isinstance(tables, dict):
        raise CURSOR_FORMAT.error("its position is not an object of tables")
    return {table: _table_positions(table, targets) for table, targets in tables.items()}


def _table_positions(table: str, targets: Cursor) -> dict[str, str]:
    if not isinstance(targets, dict):
        raise CURSOR_FORMAT.error(f"bad entry for table {table!r}")
    positions: dict[str, str] = {}
    for key, value in targets.items():
        try:
            if not isinstance(value, str):
                raise InvalidTimestamp(repr(value))
            positions[key] = canonical(value)
        except InvalidTimestamp as error:
            raise CURSOR_FORMAT.error(f"bad watermark for {table}/{key}: {error}") from None
    return positions


def dump_cursor(positions: Positions) -> Cursor:
    tables: dict[str, Cursor] = {t: dict(targets) for t, targets in sorted(positions.items())}
    return CURSOR_FORMAT.wrap(tables)
