"""The bytes of `/metrics`, rendered and compressed once per snapshot and format.

A Snapshot is immutable, so everything in it renders to the same bytes on every scrape, except
the families computed when they are read (DYNAMIC: the cursor lag, "now minus the cursor").
Each format keeps, for the current snapshot only, the text of the families before the first
dynamic one (`head`) and, once a gzip scrape asks for it, one gzip member of that text. A
scrape sends the cached head and renders only the few families from the first dynamic one on,
plus whatever the caller adds (prometheus_client's registry: process metrics).

Gzip: a stream may be several gzip members one after another (RFC 1952 section 2.2); Python's
gzip module and Go's gzip.Reader (so Prometheus) read such a stream as the concatenation of the
members' data. A gzip scrape is the cached member of the head followed by a small fresh member
of the rest, which decompresses to exactly the bytes an uncompressed scrape serves.

Concurrency: the first scrape of a new snapshot renders it under the format's lock; the
scrapes arriving meanwhile wait for that render instead of rendering the same snapshot again.
The poller never takes these locks (it only swaps the snapshot reference), so a scrape never
blocks a poll. Memory: one entry per format, replaced when the snapshot changes.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Final, Literal

from acs_exporter.definitions.metrics import CURSOR_LAG
from acs_exporter.exposition.families import with_current_lag
from acs_exporter.exposition.snapshot import Family, Snapshot
from acs_exporter.exposition.text import openmetrics_of, text_of

FormatName = Literal["text", "openmetrics"]
# Families whose samples are computed at read time (families.with_current_lag).
DYNAMIC: Final = frozenset({CURSOR_LAG.name})
# Speed over size: level 1 compresses a 3.6 MB scrape ~8x in ~15 ms; level 6 gains ~25% for
# ~4x the time. The same level as before this cache, so the served sizes do not change.
GZIP_LEVEL: Final = 1

_RENDERERS: Final[dict[FormatName, Callable[[Iterable[Family]], str]]] = {
    "text": text_of,
    "openmetrics": openmetrics_of,
}


@dataclass(frozen=True, slots=True)
class _Rendered:
    snapshot: Snapshot
    head: bytes  # the families before index `split`, rendered
    split: int  # index of the first dynamic family (len(families) when there is none)
    head_gzip: bytes | None = None  # one gzip member of `head`, made on the first gzip scrape


def first_dynamic(families: tuple[Family, ...]) -> int:
    return next((i for i, f in enumerate(families) if f.name in DYNAMIC), len(families))


class RenderedSnapshots:
    """Serves the current snapshot's `/metrics` body from bytes rendered once per snapshot."""

    def __init__(
        self, snapshot: Callable[[], Snapshot], clock: Callable[[], float] = time.time
    ) -> None:
        self._snapshot = snapshot
        self._clock = clock
        self._entries: dict[FormatName, _Rendered] = {}
        self._locks: dict[FormatName, threading.Lock] = {f: threading.Lock() for f in _RENDERERS}
        # How many times a snapshot's head was rendered and compressed (tests, benchmarks).
        self.renders = 0
        self.compressions = 0

    def body(self, fmt: FormatName, compress: bool, trailer: bytes = b"") -> tuple[bytes, ...]:
        """The body of a scrape, in parts to be sent in order: the cached head (or its gzip
        member) and the rest rendered now, followed by `trailer` (gzip: in its own member)."""
        entry = self._current(fmt, compress)
        families = with_current_lag(entry.snapshot.families, self._clock())[entry.split :]
        tail = _RENDERERS[fmt](families).encode() + trailer
        if not compress:
            return (entry.head, tail) if tail else (entry.head,)
        assert entry.head_gzip is not None  # made by _current
        if not tail:
            return (entry.head_gzip,)
        return (entry.head_gzip, gzip.compress(tail, compresslevel=GZIP_LEVEL))

    def _current(self, fmt: FormatName, compress: bool) -> _Rendered:
        entry = self._entries.get(fmt)
        if self._fits(entry, compress):
            assert entry is not None
            return entry
        with self._locks[fmt]:
            # Read the snapshot under the lock: a scrape that waited here renders the newest
            # one, never one older than what the entry already holds.
            snapshot = self._snapshot()
            entry = self._entries.get(fmt)
            if entry is None or entry.snapshot is not snapshot:
                entry = self._render(fmt, snapshot)
            if compress and entry.head_gzip is None:
                entry = replace(entry, head_gzip=gzip.compress(entry.head, GZIP_LEVEL))
                self.compressions += 1
            self._entries[fmt] = entry
            return entry

    def _fits(self, entry: _Rendered | None, compress: bool) -> bool:
        return (
            entry is not None
            and entry.snapshot is self._snapshot()
            and (entry.head_gzip is not None or not compress)
        )

    def _render(self, fmt: FormatName, snapshot: Snapshot) -> _Rendered:
        split = first_dynamic(snapshot.families)
        head = _RENDERERS[fmt](snapshot.families[:split]).encode()
        self.renders += 1
        return _Rendered(snapshot, head, split)
