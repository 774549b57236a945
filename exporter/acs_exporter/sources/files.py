"""Replay ACS call logs exported from Azure: diagnostic-settings JSON lines, Log Analytics query
results (JSON) and CSV exports, from files or glob patterns.

The cursor holds each file's progress (see FileProgress), so a restart neither re-counts nor
skips a record, and lines appended to a file are picked up on the next poll. A fetch reads at
most `batch_records` records (then reports caught_up=False), so memory stays flat on big files.
Unreadable records are counted by reason and logged with file:line; the rest still counts.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import BinaryIO, cast

from tqdm import tqdm

from acs_exporter.sources.base import Batch, Cursor, Observation
from acs_exporter.sources.files_settings import FilesSettings
from acs_exporter.sources.formats.base import ReadRequest, ReadResult
from acs_exporter.sources.formats.csvfile import read_csv
from acs_exporter.sources.formats.detect import HEAD_BYTES, Format, detect_format
from acs_exporter.sources.formats.jsonl import read_jsonl
from acs_exporter.sources.formats.loganalytics_json import (
    DocumentError,
    ResultTable,
    parse_document,
    read_loganalytics_json,
)
from acs_exporter.tables import LogTable

log = logging.getLogger(__name__)

CURSOR_VERSION = 1
FORMATS: tuple[Format, ...] = ("diagnostic-jsonl", "log-analytics-json", "csv")
# Rejections logged one by one per file and fetch; the rest are summed up in one line.
MAX_LOGGED_REJECTIONS = 20
# A rejection's message quotes the value it could not read: at most this many characters of it
# (a 1 MiB object logged twenty times a poll would flood the logs).
MAX_MESSAGE_CHARS = 300
# Files with at least this much left to read get a progress bar (on a terminal).
PROGRESS_MIN_BYTES = 16 * 1024 * 1024


@dataclass(slots=True)
class FileProgress:
    """How far one file has been read. Stored in the cursor under the file's absolute path.

    The file is recognised by a hash of its first `head_len` bytes (not its inode, which
    changes when files are copied or restored): a file whose head no longer matches, or that
    shrank below `offset`, was replaced and is read from its start.
    """

    format: Format
    head: str  # sha256 of the first head_len bytes
    head_len: int
    offset: int  # bytes consumed (line formats) or rows consumed (log-analytics-json)
    line: int  # lines consumed, for file:line messages
    size: int  # the file's size when last read
    mtime_ns: int
    failed: bool = False  # a document that could not be parsed at this size and mtime
    complete: bool = False  # everything up to `size` was read: unchanged, it needs no opening
    rotated: bool = False  # moved here from another path (rotation): it no longer grows

    def to_cursor(self) -> Cursor:
        return {
            "format": self.format,
            "head": self.head,
            "head_len": self.head_len,
            "offset": self.offset,
            "line": self.line,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "failed": self.failed,
            "complete": self.complete,
            "rotated": self.rotated,
        }

    @classmethod
    def from_cursor(cls, value: Cursor) -> FileProgress | None:
        if not isinstance(value, dict):
            return None
        fmt = value.get("format")
        ints = [value.get(k) for k in ("head_len", "offset", "line", "size", "mtime_ns")]
        head = value.get("head")
        if fmt not in FORMATS or not isinstance(head, str):
            return None
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ints):
            return None
        head_len, offset, line, size, mtime_ns = cast(list[int], ints)
        return cls(
            format=fmt,
            head=head,
            head_len=head_len,
            offset=offset,
            line=line,
            size=size,
            mtime_ns=mtime_ns,
            failed=value.get("failed") is True,
            complete=value.get("complete") is True,
            rotated=value.get("rotated") is True,
        )


@dataclass(slots=True)
class _FetchState:
    """What one fetch accumulates across files."""

    budget: int
    counts: dict[LogTable, Counter[Observation]] = field(default_factory=dict)  # per table
    rejected: Counter[str] = field(default_factory=Counter)
    records: int = 0
    caught_up: bool = True
    newest_mtime: float | None = None
    # Progress as the cursor had it, for files that moved to another matching path (rotation).
    before: dict[str, FileProgress] = field(default_factory=dict)
    adopted: set[str] = field(default_factory=set)  # keys of `before` taken over this fetch
    # Files whose format could not be told, already counted as rejected (kept in the cursor,
    # so the count is once per file across restarts, and a batch not applied counts it again).
    unknown_format: set[str] = field(default_factory=set)


class FilesSource:
    """A Source over exported ACS log files."""

    def __init__(
        self,
        settings: FilesSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        stop: threading.Event | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        # Set at shutdown: a fetch ends early, returning what it read with a cursor after it.
        self._stop = stop
        # Each file's size, and since when it has had it: a file that has not grown for
        # `unterminated_line_timeout` (far longer than a poll interval: a writer pausing
        # mid-line must not have its half line read as a record) is complete, and a last line
        # without a newline can be read. Not persisted: after a restart such a line waits the
        # timeout again.
        self._last_size: dict[str, tuple[int, float]] = {}
        self._settled_after = settings.complete_after
        self._missing_reported: set[str] = set()
        self._cached_document: tuple[tuple[str, int, int], list[ResultTable]] | None = None

    @property
    def name(self) -> str:
        return self._settings.name

    def close(self) -> None:
        """Nothing stays open between fetches."""

    def fetch(self, cursor: Cursor) -> Batch:
        progress = self._progress_from(cursor)
        state = _FetchState(
            budget=self._settings.batch_records,
            before={k: replace(v) for k, v in progress.items()},
            unknown_format=_unknown_format_from(cursor),
        )
        for path in self._paths():
            if state.budget <= 0 or (self._stop is not None and self._stop.is_set()):
                state.caught_up = False
                break
            key = str(path)
            try:
                entry = self._read_file(path, progress.get(key), state)
            except OSError as error:
                # Unreadable now (permissions, vanished mid-poll): keep its progress, try again.
                log.warning("%s: cannot read: %s", path, error)
                continue
            if entry is None:
                progress.pop(key, None)  # replaced by something it cannot read (yet)
            else:
                progress[key] = entry
        for key in state.adopted:
            if key in progress and not os.path.lexists(key):
                del progress[key]  # its file moved to another path, and its progress with it
        batch_cursor: dict[str, Cursor] = {
            "version": CURSOR_VERSION,
            "files": {k: v.to_cursor() for k, v in sorted(progress.items())},
        }
        if state.unknown_format:
            batch_cursor["unknown_format"] = list[Cursor](sorted(state.unknown_format))
        watermark = (
            None if state.newest_mtime is None else datetime.fromtimestamp(state.newest_mtime, UTC)
        )
        return Batch(
            observations={
                table: [obs._replace(n=n) for obs, n in counts.items()]
                for table, counts in state.counts.items()
            },
            rejected=dict(state.rejected),
            cursor=batch_cursor,
            watermark=watermark,
            caught_up=state.caught_up,
        )

    # -- files -------------------------------------------------------------------------------

    def _progress_from(self, cursor: Cursor) -> dict[str, FileProgress]:
        if cursor is None:
            return {}
        files = cursor.get("files") if isinstance(cursor, dict) else None
        if not isinstance(cursor, dict) or cursor.get("version") != CURSOR_VERSION:
            files = None
        if not isinstance(files, dict):
            log.warning("%s: ignoring a cursor it cannot read, reading all files anew", self.name)
            return {}
        out = {}
        for key, value in files.items():
            entry = FileProgress.from_cursor(value)
            if entry is None:
                log.warning("%s: ignoring unreadable progress of %s: %r", self.name, key, value)
                continue
            out[key] = entry
        return out

    def _paths(self) -> list[Path]:
        """Every file the configured paths and patterns name now, absolute, sorted, once."""
        found: set[Path] = set()
        for pattern in self._settings.paths:
            text = os.path.expanduser(str(pattern))
            if glob.has_magic(text):
                matches = [Path(p) for p in glob.glob(text, recursive=True)]
                if not matches and text not in self._missing_reported:
                    self._missing_reported.add(text)
                    log.warning("%s: pattern %s matches no file (yet)", self.name, text)
            else:
                matches = [Path(text)]
            for match in matches:
                if match.is_file():
                    found.add(match.absolute())
                elif not glob.has_magic(text) and text not in self._missing_reported:
                    self._missing_reported.add(text)
                    kind = "is not a file" if match.exists() else "does not exist (yet)"
                    log.warning("%s: %s %s", self.name, match, kind)
        return _one_name_per_file(found)

    def _read_file(
        self, path: Path, entry: FileProgress | None, state: _FetchState
    ) -> FileProgress | None:
        key = str(path)
        stat = path.stat()
        if state.newest_mtime is None or stat.st_mtime > state.newest_mtime:
            state.newest_mtime = stat.st_mtime
        if (
            entry is not None
            and (entry.complete or entry.failed)
            and (entry.size, entry.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
        ):
            # Read to the end (or judged broken) and unchanged since: no need to open it.
            self._sighted(key, stat.st_size)
            return entry
        with path.open("rb") as f:
            stat = os.fstat(f.fileno())
            size = stat.st_size
            head = f.read(min(size, HEAD_BYTES))
            unchanged_for = self._sighted(key, size)
            final = unchanged_for >= self._settled_after
            if entry is not None and not _same_file(entry, head, size, stat.st_mtime_ns):
                log.info("%s: file was replaced or truncated, reading it from the start", path)
                entry = None
            if entry is None:
                entry = _moved_here(key, head, size, stat.st_mtime_ns, state)
                if entry is not None:
                    entry.rotated = True
            if entry is not None and entry.rotated and unchanged_for >= 0:
                # Rotated away (a new file holds its old path): it no longer grows, so its last
                # line is complete once seen at the same size twice (not on the very poll that
                # finds it moved, in case its writer was still finishing the line).
                final = True
            if entry is None:
                fmt = self._format(path, head)
                if fmt is None:
                    if final and head.strip():
                        self._reject_unknown_format(path, state)
                    return None
                entry = FileProgress(
                    format=fmt,
                    head=_hash(head),
                    head_len=len(head),
                    offset=0,
                    line=0,
                    size=size,
                    mtime_ns=stat.st_mtime_ns,
                )
            elif len(head) > entry.head_len:
                entry.head, entry.head_len = _hash(head), len(head)
            if entry.failed:
                return entry
            self._read_records(f, path=path, entry=entry, size=size, final=final, state=state)
            entry.size, entry.mtime_ns = size, stat.st_mtime_ns
            return entry

    def _sighted(self, key: str, size: int) -> float:
        """Note the file's size now; returns for how long (seconds) it has had it."""
        now = self._clock()
        previous = self._last_size.get(key)
        if previous is None or previous[0] != size:
            self._last_size[key] = (size, now)
            return -1.0  # first sighting of this size: not settled, even with no interval
        return now - previous[1]

    def _format(self, path: Path, head: bytes) -> Format | None:
        if self._settings.format != "auto":
            return self._settings.format
        return detect_format(head, path)

    def _reject_unknown_format(self, path: Path, state: _FetchState) -> None:
        if str(path) in state.unknown_format:
            return
        state.unknown_format.add(str(path))
        state.rejected["unknown_format"] += 1
        key = f"unknown-format:{path}"
        if key in self._missing_reported:
            return  # counted again (a retry of a batch that was not applied): logged already
        self._missing_reported.add(key)
        log.error(
            "%s:1: cannot tell the format (not diagnostic JSON lines, a Log Analytics query "
            "result or a CSV export with ACSCallSummary columns); set `format` to read it",
            path,
        )

    def _read_records(
        self,
        f: BinaryIO,
        *,
        path: Path,
        entry: FileProgress,
        size: int,
        final: bool,
        state: _FetchState,
    ) -> None:
        """Read on from `entry` with the format's reader, within the fetch's budget."""
        reader: Callable[[ReadRequest], ReadResult]
        if entry.format == "log-analytics-json":
            tables = self._tables(f, path=path, entry=entry, size=size, final=final, state=state)
            if tables is None:
                return
            reader = partial(read_loganalytics_json, tables=tables)
            total, unit = sum(len(t.rows) for t in tables), "rows"
        else:
            reader = read_csv if entry.format == "csv" else read_jsonl
            total, unit = size, "B"
        # `total` is in the unit of `entry.offset`: bytes, or rows of a document.
        with (
            self._progress_bar(path, total, entry.offset, unit) as advance,
            _Rejecter(self.name, path, state) as reject,
        ):
            result = reader(
                ReadRequest(
                    file=f,
                    display=str(path),
                    size=size,
                    offset=entry.offset,
                    line=entry.line,
                    limit=state.budget,
                    final=final,
                    reject=reject,
                    advance=advance,
                    stop=self._stop,
                    max_line=self._settings.max_line_bytes,
                )
            )
        entry.offset, entry.line = result.offset, result.line
        entry.complete = result.offset >= total
        for table, counts in result.counts.items():
            state.counts.setdefault(table, Counter()).update(counts)
        state.records += result.records
        state.budget -= result.records
        if not result.at_end:
            state.caught_up = False

    def _tables(
        self,
        f: BinaryIO,
        *,
        path: Path,
        entry: FileProgress,
        size: int,
        final: bool,
        state: _FetchState,
    ) -> list[ResultTable] | None:
        """The parsed document, kept while a big one is read over several polls; None when it
        cannot be parsed (judged, and counted as rejected, once it stops changing)."""
        key = (str(path), size, entry.mtime_ns)
        if self._cached_document is not None and self._cached_document[0] == key:
            return self._cached_document[1]
        self._cached_document = None
        f.seek(0)
        try:
            if size > self._settings.max_document_bytes:
                # Parsed whole, a document costs several times its size: never read this one.
                raise DocumentError(
                    "document_too_large",
                    f"{path}: query result of {size} bytes is larger than max_document_bytes "
                    f"({self._settings.max_document_bytes})",
                )
            tables = parse_document(f.read(size), str(path))
        except DocumentError as error:
            if final:
                entry.failed = True
                state.rejected[error.reason] += 1
                log.error("%s (the whole file is skipped until it changes)", error)
            return None  # else maybe still being written
        self._cached_document = (key, tables)
        return tables

    @contextmanager
    def _progress_bar(
        self, path: Path, total: int, done: int, unit: str
    ) -> Iterator[Callable[[int], None]]:
        """A tqdm bar on stderr for big files when stderr is a terminal; never on stdout."""
        big = total - done >= (PROGRESS_MIN_BYTES if unit == "B" else 100_000)
        if not (self._settings.progress and big and sys.stderr.isatty()) or _logging_json():
            yield _ignore
            return
        bar = tqdm(
            total=total,
            initial=done,
            unit=unit,
            unit_scale=True,
            desc=path.name,
            file=sys.stderr,
            leave=False,
        )

        def advance(n: int) -> None:
            bar.update(n)

        try:
            yield advance
        finally:
            bar.close()


def _ignore(_: int) -> None:
    return None


def _logging_json() -> bool:
    """True when the logs are JSON lines: a progress bar would break them for parsers.

    Judged by what the root logger's formatters produce, so it holds whatever sets them up.
    """
    probe = logging.LogRecord("probe", logging.INFO, __file__, 0, "probe", (), None)
    for handler in logging.getLogger().handlers:
        formatter = handler.formatter or logging.Formatter()
        try:
            text = formatter.format(probe)
        except Exception:  # a formatter that cannot format a bare record is not ours to judge
            text = ""
        if text.lstrip().startswith("{"):
            return True
    return False


def _hash(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()


def _unknown_format_from(cursor: Cursor) -> set[str]:
    paths = cursor.get("unknown_format") if isinstance(cursor, dict) else None
    if not isinstance(paths, list):
        return set()
    return {p for p in paths if isinstance(p, str)}


def _one_name_per_file(paths: set[Path]) -> list[Path]:
    """`paths` sorted, with one name per file: a symlink (a `latest.jsonl` beside the dated
    file it points to) or a hard link to a file also matched under another name would count it
    twice. The name kept is one that is not a symlink, so it stays with its content when the
    link moves on."""
    names: dict[tuple[int, int], Path] = {}
    for path in sorted(paths, key=lambda p: (p.is_symlink(), p)):
        try:
            stat = path.stat()
        except OSError:
            continue  # vanished since it was listed
        names.setdefault((stat.st_dev, stat.st_ino), path)
    return sorted(names.values())


def _moved_here(
    key: str, head: bytes, size: int, mtime_ns: int, state: _FetchState
) -> FileProgress | None:
    """The progress of a file that was at another path and moved to `key` (log rotation:
    `calls.jsonl` renamed `calls.jsonl.1`, both matching the pattern), or None.

    Taken over only from a path that no longer holds that file (gone, or holding another), so
    a copy beside its original is still a file of its own (documented: counted twice).
    """
    hashes: dict[int, str] = {}  # one hash per head length, however many entries there are
    for other, entry in state.before.items():
        if other == key or other in state.adopted or len(head) < entry.head_len:
            continue
        if entry.head_len not in hashes:
            hashes[entry.head_len] = _hash(head[: entry.head_len])
        if (
            hashes[entry.head_len] != entry.head
            or not _same_file(entry, head, size, mtime_ns)
            or _still_holds(other, entry)
        ):
            continue
        state.adopted.add(other)
        log.info("%s: continues %s (moved here), at line %d", key, other, entry.line)
        return replace(entry)
    return None


def _still_holds(path: str, entry: FileProgress) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(entry.head_len)
    except OSError:
        return False
    return len(head) == entry.head_len and _hash(head) == entry.head


def _same_file(entry: FileProgress, head: bytes, size: int, mtime_ns: int) -> bool:
    if len(head) < entry.head_len or _hash(head[: entry.head_len]) != entry.head:
        return False
    if entry.format == "log-analytics-json":
        # A document is read whole: any change makes it a new document.
        return size == entry.size and mtime_ns == entry.mtime_ns
    return size >= entry.offset


class _Rejecter:
    """Counts rejections and logs the first few of a file (with file:line) one by one.

    The counts reach the fetch only when the read completes: a read that fails midway leaves
    the file's progress where it was, so its rejected lines are read, and counted, again.
    """

    def __init__(self, source: str, path: Path, state: _FetchState) -> None:
        self._source = source
        self._path = path
        self._state = state
        self._rejected: Counter[str] = Counter()
        self._logged = 0
        self._suppressed: Counter[str] = Counter()

    def __enter__(self) -> _Rejecter:
        return self

    def __exit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        if error_type is None:
            self._state.rejected.update(self._rejected)
        if self._suppressed:
            reasons = ", ".join(f"{r}: {n}" for r, n in sorted(self._suppressed.items()))
            log.warning(
                "%s: %d more records rejected (%s)",
                self._path,
                sum(self._suppressed.values()),
                reasons,
            )

    def __call__(self, reason: str, where: str, message: str) -> None:
        self._rejected[reason] += 1
        if len(message) > MAX_MESSAGE_CHARS:
            message = f"{message[:MAX_MESSAGE_CHARS]}... ({len(message)} characters)"
        if self._logged < MAX_LOGGED_REJECTIONS:
            self._logged += 1
            log.warning(
                "%s: %s (rejected: %s)",
                where,
                message,
                reason,
                extra={"source": self._source, "reason": reason},
            )
        else:
            self._suppressed[reason] += 1
