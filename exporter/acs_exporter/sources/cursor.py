"""One versioned envelope around every source's cursor.

A cursor is saved in the checkpoint together with the counts it produced, so reading it back
wrongly means losing or double-counting calls. Every source wraps its own position the same
way, `{"kind": <source type>, "version": <layout of position>, "position": ...}`, and reads it
back through `CursorFormat.unwrap`, which refuses (SourceError "bad_cursor", naming what is
wrong) anything that is not a cursor this version of that source wrote: a damaged checkpoint
is reported, never silently read as "start over".

Cursors saved before the envelope existed are read through a source's `legacy` reader, so an
upgrade continues where the previous version stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from acs_exporter.inputs.redact import shorten_repr
from acs_exporter.sources.base import Cursor, SourceError

BAD_CURSOR = "bad_cursor"

# Reads a cursor that has no envelope (written by an earlier release) into a position;
# returns None when the value is not such a cursor either.
LegacyReader = Callable[[dict[str, Cursor]], Cursor | None]


def flat_legacy(version: int, marker: str) -> LegacyReader:
    """The reader of a cursor an earlier release saved flat: the position's fields beside
    `"version": N`, recognised by one field (`marker`) the position always has."""

    def read(cursor: dict[str, Cursor]) -> Cursor | None:
        if cursor.get("version") != version or marker not in cursor:
            return None
        return {key: value for key, value in cursor.items() if key != "version"}

    return read


@dataclass(frozen=True)
class CursorFormat:
    kind: str  # the source type (`sources[].type`)
    version: int  # of the position's layout; bump it when the layout changes
    legacy: LegacyReader | None = None

    def wrap(self, position: Cursor) -> Cursor:
        return {"kind": self.kind, "version": self.version, "position": position}

    def unwrap(self, cursor: Cursor) -> Cursor:
        """The position inside `cursor`; None on a first start (no cursor saved)."""
        if cursor is None:
            return None
        if not isinstance(cursor, dict):
            raise self._bad(f"expected an object, got {shorten_repr(cursor)}")
        if "kind" not in cursor:
            position = None if self.legacy is None else self.legacy(cursor)
            if position is None:
                raise self._bad(
                    "no kind, and not the previous release's layout either "
                    f"({shorten_repr(cursor)})"
                )
            return position
        if cursor.get("kind") != self.kind:
            raise self._bad(f"it was written by a {shorten_repr(cursor.get('kind'))} source")
        if cursor.get("version") != self.version:
            raise self._bad(
                f"version {shorten_repr(cursor.get('version'))}, this release reads {self.version}"
            )
        if "position" not in cursor:
            raise self._bad("it has no position")
        return cursor["position"]

    def error(self, what: str) -> SourceError:
        """For a source's own checks of the position's contents."""
        return self._bad(what)

    def _bad(self, what: str) -> SourceError:
        return SourceError(
            BAD_CURSOR,
            f"saved {self.kind} cursor is not readable: {what}; fix or delete the checkpoint "
            "entry of this source (deleting it re-reads from the start settings)",
        )
