"""The files source: reads the files `discovery` lists, each from where its progress in the
cursor says, within the fetch's budget.

The cursor holds each file's progress (see cursor.FileProgress), so a restart neither
re-counts nor skips a record, and lines appended to a file are picked up on the next poll. A
fetch reads at most `batch_records` records (then reports caught_up=False), so memory stays
flat on big files. Unreadable records are counted by reason and logged with file:line; the
rest still counts.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import BinaryIO

from acs_exporter.definitions.tables import LogTable
from acs_exporter.sources.base import Batch, Cursor, Observation
from acs_exporter.sources.files.cursor import FileProgress, SavedCursor, head_hash
from acs_exporter.sources.files.discovery import Discovery, Moves, same_file
from acs_exporter.sources.files.progress import progress_bar
from acs_exporter.sources.files.rejections import Rejecter
from acs_exporter.sources.files.settings import FilesSettings
from acs_exporter.sources.formats.base import ReadRequest, ReadResult
from acs_exporter.sources.formats.csvfile import read_csv
from acs_exporter.sources.formats.detect import HEAD_BYTES, Format, detect_format
from acs_exporter.sources.formats.jsonl import read_jsonl
from acs_exporter.sources.formats.loganalytics_json import (
    DocumentError,
    PartialDocument,
    parse_document,
    read_loganalytics_json,
)
from acs_exporter.sources.formats.reasons import Rejection
from acs_exporter.sources.loganalytics.response import ResultTable

log = logging.getLogger("acs_exporter.sources.files")


@dataclass(slots=True)
class _FetchState:
    """What one fetch accumulates across files."""

    budget: int
    moves: Moves
    # Files whose format could not be told, already counted as rejected (kept in the cursor,
    # so the count is once per file across restarts, and a batch not applied counts it again).
    unknown_format: set[str]
    counts: dict[LogTable, Counter[Observation]] = field(default_factory=dict)  # per table
    rejected: Counter[str] = field(default_factory=Counter)
    records: int = 0
    caught_up: bool = True
    unreadable: list[str] = field(default_factory=list)  # "path: why", see Batch.unreadable
    newest_mtime: float | None = None


@dataclass(frozen=True, slots=True)
class _Opened:
    """A file as one fetch sees it: open, with its size and head read once."""

    f: BinaryIO
    path: Path
    size: int
    mtime_ns: int
    head: bytes
    final: bool  # its last line is complete even without a newline


class FilesSource:
    """A Source over exported ACS log files."""

    def __init__(
        self,
        settings: FilesSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        stop: threading.Event | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._wall_clock = wall_clock  # compared with modification times
        # Set at shutdown: a fetch ends early, returning what it read with a cursor after it.
        self._stop = stop
        self._discovery = Discovery(settings)
        # Each file's size, and since when it has had it: a file that has not grown for
        # `unterminated_line_timeout` (far longer than a poll interval: a writer pausing
        # mid-line must not have its half line read as a record) is complete, and a last line
        # without a newline can be read. Not persisted: after a restart it is measured anew,
        # unless the file's modification time says it has not changed for that long.
        self._last_size: dict[str, tuple[int, float]] = {}
        self._settled_after = settings.complete_after
        self._cached_document: tuple[tuple[str, int, int], list[ResultTable]] | None = None

    @property
    def name(self) -> str:
        return self._settings.name

    def close(self) -> None:
        """Nothing stays open between fetches."""

    def fetch(self, cursor: Cursor) -> Batch:
        saved = SavedCursor.read(cursor)  # SourceError "bad_cursor" when it is damaged
        progress = saved.files
        state = _FetchState(
            budget=self._settings.batch_records,
            moves=Moves({k: replace(v) for k, v in progress.items()}),
            unknown_format=saved.unknown_format,
        )
        listing = self._discovery.paths()
        state.unreadable.extend(listing.unreadable)
        visited: set[str] = set()
        for path in listing.paths:
            if state.budget <= 0 or (self._stop is not None and self._stop.is_set()):
                state.caught_up = False
                break
            visited.add(str(path))
            self._read_into(progress, path, state)
        if state.moves.lost():
            self._follow_moved(progress, visited, state)
        state.moves.forget_moved(progress)
        watermark = (
            None if state.newest_mtime is None else datetime.fromtimestamp(state.newest_mtime, UTC)
        )
        return Batch(
            observations={
                table: [obs._replace(n=n) for obs, n in counts.items()]
                for table, counts in state.counts.items()
            },
            rejected=dict(state.rejected),
            cursor=SavedCursor(progress, state.unknown_format).write(),
            watermark=watermark,
            caught_up=state.caught_up,
            unreadable=tuple(state.unreadable),
        )

    # -- files -------------------------------------------------------------------------------

    def _read_into(self, progress: dict[str, FileProgress], path: Path, state: _FetchState) -> None:
        key = str(path)
        try:
            entry = self._read_file(path, progress.get(key), state)
        except OSError as error:
            # Unreadable now (permissions, an I/O error, vanished mid-poll): keep its progress,
            # try again at the next poll. Until then what it holds is not counted, so the
            # source is not caught up; a file that vanished holds nothing any more.
            log.warning("%s: cannot read: %s", path, error)
            if not isinstance(error, FileNotFoundError):
                state.unreadable.append(f"{path}: {error.strerror or error}")
            return
        if entry is None:
            progress.pop(key, None)  # replaced by something it cannot read (yet)
        else:
            progress[key] = entry
            state.moves.read_on(key, entry)

    def _follow_moved(
        self, progress: dict[str, FileProgress], visited: set[str], state: _FetchState
    ) -> None:
        """A rotation during this fetch can move a file to a path its listing did not have
        (`calls.jsonl.1` -> `calls.jsonl.2`) while another takes its old path: without this,
        its progress is gone with the cursor and the file read again from its start. List
        again and let the progress follow the file to its new path; what is new in it is read
        by the next poll, at once (caught_up False)."""
        for path in self._discovery.paths().paths:
            key = str(path)
            if key in visited:
                continue
            try:
                entry = self._moved_to(path, progress.get(key), state)
            except OSError:
                continue  # unreadable or gone: the next poll says so
            if entry is not None:
                progress[key] = entry
                state.caught_up = False

    def _moved_to(
        self, path: Path, entry: FileProgress | None, state: _FetchState
    ) -> FileProgress | None:
        """The progress of a file that moved to `path` this fetch; None if it did not."""
        with path.open("rb") as f:
            stat = os.fstat(f.fileno())
            head = f.read(min(stat.st_size, HEAD_BYTES))
        if entry is not None and same_file(entry, head, stat.st_size, stat.st_mtime_ns):
            return None  # its own file: read on by the next poll
        return state.moves.moved_here(str(path), head, stat.st_size, stat.st_mtime_ns)

    def _read_file(
        self, path: Path, entry: FileProgress | None, state: _FetchState
    ) -> FileProgress | None:
        stat = path.stat()
        if state.newest_mtime is None or stat.st_mtime > state.newest_mtime:
            state.newest_mtime = stat.st_mtime
        if (
            entry is not None
            and (entry.complete or entry.failed)
            and (entry.size, entry.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
        ):
            # Read to the end (or judged broken) and unchanged since: no need to open it.
            self._sighted(str(path), stat.st_size)
            return entry
        with path.open("rb") as f:
            stat = os.fstat(f.fileno())
            head = f.read(min(stat.st_size, HEAD_BYTES))
            unchanged_for = self._sighted(str(path), stat.st_size)
            final = unchanged_for >= self._settled_after or self._untouched(stat.st_mtime)
            opened = _Opened(f, path, stat.st_size, stat.st_mtime_ns, head, final)
            entry = self._recognise(opened, entry, state)
            if entry is not None and entry.rotated and unchanged_for >= 0:
                # Rotated away (a new file holds its old path): it no longer grows, so its last
                # line is complete once seen at the same size twice (not on the very poll that
                # finds it moved, in case its writer was still finishing the line).
                opened = replace(opened, final=True)
            if entry is None:
                entry = self._new_entry(opened, state)
                if entry is None:
                    return None
            elif len(head) > entry.head_len:
                entry.head, entry.head_len = head_hash(head), len(head)
            if entry.failed:
                return entry
            self._read_records(opened, entry, state)
            entry.size, entry.mtime_ns = opened.size, opened.mtime_ns
            return entry

    def _recognise(
        self, opened: _Opened, entry: FileProgress | None, state: _FetchState
    ) -> FileProgress | None:
        """The progress that goes on in this file: its own, or that of the file it was before
        rotation; None when it is to be read from its start."""
        if entry is not None and not same_file(entry, opened.head, opened.size, opened.mtime_ns):
            state.moves.displaced.add(str(opened.path))
            log.info("%s: file was replaced or truncated, reading it from the start", opened.path)
            entry = None
        if entry is None:
            entry = state.moves.moved_here(
                str(opened.path), opened.head, opened.size, opened.mtime_ns
            )
        return entry

    def _new_entry(self, opened: _Opened, state: _FetchState) -> FileProgress | None:
        """The progress of a file read from its start; None while its format is unknown."""
        fmt = self._format(opened.path, opened.head)
        if fmt is None:
            if opened.final and opened.head.strip():
                self._reject_unknown_format(opened.path, state)
            return None
        return FileProgress(
            format=fmt,
            head=head_hash(opened.head),
            head_len=len(opened.head),
            offset=0,
            line=0,
            size=opened.size,
            mtime_ns=opened.mtime_ns,
        )

    def _sighted(self, key: str, size: int) -> float:
        """Note the file's size now; returns for how long (seconds) it has had it."""
        now = self._clock()
        previous = self._last_size.get(key)
        if previous is None or previous[0] != size:
            self._last_size[key] = (size, now)
            return -1.0  # first sighting of this size: not settled, even with no interval
        return now - previous[1]

    def _untouched(self, mtime: float) -> bool:
        """Whether the file has not been modified for `unterminated_line_timeout` by the wall
        clock: then it is complete at once, also at the first poll after a start (a finished
        export must not wait the timeout after every restart, its last record missing while the
        exporter is ready). A writer whose clock is behind ours makes a file look older than it
        is (documented); with no timeout a first sighting is never complete."""
        return self._settled_after > 0 and self._wall_clock() - mtime >= self._settled_after

    def _format(self, path: Path, head: bytes) -> Format | None:
        if self._settings.format != "auto":
            return self._settings.format
        return detect_format(head, path)

    def _reject_unknown_format(self, path: Path, state: _FetchState) -> None:
        if str(path) in state.unknown_format:
            return
        state.unknown_format.add(str(path))
        state.rejected[Rejection.UNKNOWN_FORMAT] += 1
        if not self._discovery.report_once(f"unknown-format:{path}"):
            return  # counted again (a retry of a batch that was not applied): logged already
        log.error(
            "%s:1: cannot tell the format (not diagnostic JSON lines, a Log Analytics query "
            "result or a CSV export with ACSCallSummary columns); set `format` to read it",
            path,
        )

    def _read_records(self, opened: _Opened, entry: FileProgress, state: _FetchState) -> None:
        """Read on from `entry` with the format's reader, within the fetch's budget."""
        reader: Callable[[ReadRequest], ReadResult]
        if entry.format == "log-analytics-json":
            tables = self._tables(opened, entry, state)
            if tables is None:
                return
            reader = partial(read_loganalytics_json, tables=tables)
            total, unit = sum(len(t.rows) for t in tables), "rows"
        else:
            reader = read_csv if entry.format == "csv" else read_jsonl
            total, unit = opened.size, "B"
        # `total` is in the unit of `entry.offset`: bytes, or rows of a document.
        with (
            progress_bar(
                self._settings.progress, opened.path, total, entry.offset, unit
            ) as advance,
            Rejecter(self.name, opened.path, state.rejected) as reject,
        ):
            result = reader(
                ReadRequest(
                    file=opened.f,
                    display=str(opened.path),
                    size=opened.size,
                    offset=entry.offset,
                    line=entry.line,
                    limit=state.budget,
                    final=opened.final,
                    reject=reject,
                    advance=advance,
                    stop=self._stop,
                    max_line=self._settings.max_line_bytes,
                )
            )
        entry.offset, entry.line = result.offset, result.line
        entry.complete = result.offset >= total
        entry.failed = result.failed
        for table, counts in result.counts.items():
            state.counts.setdefault(table, Counter()).update(counts)
        state.records += result.records
        state.budget -= result.records
        if not result.at_end:
            state.caught_up = False

    def _tables(
        self, opened: _Opened, entry: FileProgress, state: _FetchState
    ) -> list[ResultTable] | None:
        """The parsed document, kept while a big one is read over several polls; None when it
        cannot be parsed (judged, and counted as rejected, once it stops changing) or is a
        partial result (all its rows rejected at once: it parsed, so it is complete)."""
        key = (str(opened.path), opened.size, entry.mtime_ns)
        if self._cached_document is not None and self._cached_document[0] == key:
            return self._cached_document[1]
        self._cached_document = None
        try:
            tables = self._parse(opened)
        except PartialDocument as partial:
            entry.failed = True
            # At least one, so that a partial result without rows still shows in the counts.
            state.rejected[Rejection.PARTIAL_RESULT] += max(partial.rows, 1)
            log.error("%s (the whole file is skipped until it changes)", partial)
            return None
        except DocumentError as error:
            if opened.final:
                entry.failed = True
                state.rejected[error.reason] += 1
                log.error("%s (the whole file is skipped until it changes)", error)
            return None  # else maybe still being written
        self._cached_document = (key, tables)
        return tables

    def _parse(self, opened: _Opened) -> list[ResultTable]:
        if opened.size > self._settings.max_document_bytes:
            # Parsed whole, a document costs several times its size: never read this one.
            raise DocumentError(
                Rejection.DOCUMENT_TOO_LARGE,
                f"{opened.path}: query result of {opened.size} bytes is larger than "
                f"max_document_bytes ({self._settings.max_document_bytes})",
            )
        opened.f.seek(0)
        return parse_document(opened.f.read(opened.size), str(opened.path))
