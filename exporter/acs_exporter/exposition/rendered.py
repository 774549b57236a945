"""The bytes of `/metrics`, rendered and compressed once per snapshot and format.

A Snapshot is immutable, so everything in it renders to the same bytes on every scrape, except
the families computed when they are read (DYNAMIC: the cursor lag, "now minus the cursor").
Each format keeps, for the current snapshot only, the text of each run of static families
between the dynamic ones and, once a gzip scrape asks for it, one gzip member of each run. A
scrape sends those cached bytes and renders only the dynamic families (one sample per source),
plus whatever the caller adds (prometheus_client's registry: process metrics).

Gzip: a stream may be several gzip members one after another (RFC 1952 section 2.2); Python's
gzip module and Go's gzip.Reader (so Prometheus) read such a stream as the concatenation of the
members' data. A gzip scrape is the cached members of the static runs with small fresh members
of the dynamic families (and of the trailer) between and after them, which decompresses to
exactly the bytes an uncompressed scrape serves.

Concurrency: the first scrape of a new snapshot renders it under the format's lock; the
scrapes arriving meanwhile wait for that render instead of rendering the same snapshot again.
The poller never takes these locks (it only swaps the snapshot reference), so a scrape never
blocks a poll. Memory: one entry per format, the last scraped snapshot's, replaced by the first
scrape of a newer one. Once a gzip scrape (what Prometheus sends) has compressed it, only the
gzip members are kept (~20 bytes a series rather than ~360); the first uncompressed scrape
after that unpacks them (cheaper than rendering again) and both are kept from then on. What a
render frees (its scratch, the previous snapshot's bytes) is handed back to the system at once
(trim.py), so it does not stay in the process's RSS.
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
from acs_exporter.exposition.trim import release_freed_memory

FormatName = Literal["text", "openmetrics"]
# Families whose samples are computed at read time (families.with_current_lag).
DYNAMIC: Final = frozenset({CURSOR_LAG.name})
# Speed over size: level 1 compresses a 3.6 MB scrape ~8x in ~15 ms; level 6 gains ~25% for
# ~4x the time. The same level as before this cache, so the served sizes do not change.
GZIP_LEVEL: Final = 1

_EMPTY_GZIP: Final = gzip.compress(b"", GZIP_LEVEL)

_RENDERERS: Final[dict[FormatName, Callable[[Iterable[Family]], str]]] = {
    "text": text_of,
    "openmetrics": openmetrics_of,
}


@dataclass(frozen=True, slots=True)
class _Rendered:
    snapshot: Snapshot
    # In order: a run of static families, rendered (bytes), or a dynamic family's index (int).
    # None once `gzipped` is made: the members are kept instead (~5% of the text's size).
    pieces: tuple[bytes | int, ...] | None
    # The same with each run as one gzip member; made on the first gzip scrape.
    gzipped: tuple[bytes | int, ...] | None = None


def pieces(
    families: tuple[Family, ...], render: Callable[[Iterable[Family]], str]
) -> list[bytes | int]:
    """Runs of static families rendered, dynamic ones by index."""
    out: list[bytes | int] = []
    run: list[Family] = []
    for index, family in enumerate(families):
        if family.name in DYNAMIC:
            if run:
                out.append(render(run).encode())
                run = []
            out.append(index)
        else:
            run.append(family)
    if run:
        out.append(render(run).encode())
    return out


class RenderedSnapshots:
    """Serves the current snapshot's `/metrics` body from bytes rendered once per snapshot."""

    def __init__(
        self, snapshot: Callable[[], Snapshot], clock: Callable[[], float] = time.time
    ) -> None:
        self._snapshot = snapshot
        self._clock = clock
        self._entries: dict[FormatName, _Rendered] = {}
        self._locks: dict[FormatName, threading.Lock] = {f: threading.Lock() for f in _RENDERERS}
        # How many times a snapshot was rendered and compressed (tests, benchmarks).
        self.renders = 0
        self.compressions = 0

    def body(self, fmt: FormatName, compress: bool, trailer: bytes = b"") -> tuple[bytes, ...]:
        """The body of a scrape, in parts to be sent in order: the cached runs of static
        families (gzip: one member each) and the dynamic families rendered now, then `trailer`
        (gzip: in a member of its own)."""
        entry = self._current(fmt, compress)
        cached = entry.gzipped if compress else entry.pieces
        assert cached is not None  # made by _current
        families: tuple[Family, ...] = ()
        if any(isinstance(piece, int) for piece in cached):
            families = with_current_lag(entry.snapshot.families, self._clock())
        render = _RENDERERS[fmt]
        parts = [
            piece if isinstance(piece, bytes) else _fresh(render((families[piece],)), compress)
            for piece in cached
        ]
        if trailer:
            parts.append(gzip.compress(trailer, GZIP_LEVEL) if compress else trailer)
        if compress and not parts:
            parts.append(_EMPTY_GZIP)  # an empty body is no gzip stream: one empty member is
        return tuple(parts)

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
                entry = _Rendered(snapshot, tuple(pieces(snapshot.families, _RENDERERS[fmt])))
                self.renders += 1
            if compress and entry.gzipped is None:
                assert entry.pieces is not None  # dropped only once gzipped is made
                gzipped = tuple(
                    gzip.compress(p, GZIP_LEVEL) if isinstance(p, bytes) else p
                    for p in entry.pieces
                )
                entry = replace(entry, gzipped=gzipped, pieces=None)
                self.compressions += 1
            if not compress and entry.pieces is None:
                # Uncompressed scrapes of this snapshot too (not only Prometheus): keep both.
                assert entry.gzipped is not None
                unpacked = tuple(
                    gzip.decompress(p) if isinstance(p, bytes) else p for p in entry.gzipped
                )
                entry = replace(entry, pieces=unpacked)
            self._entries[fmt] = entry  # the previous snapshot's bytes are freed here
            release_freed_memory()  # and, with the render's scratch, given back (trim.py)
            return entry

    def _fits(self, entry: _Rendered | None, compress: bool) -> bool:
        return (
            entry is not None
            and entry.snapshot is self._snapshot()
            and (entry.gzipped if compress else entry.pieces) is not None
        )


def _fresh(text: str, compress: bool) -> bytes:
    data = text.encode()
    return gzip.compress(data, GZIP_LEVEL) if compress else data
