"""What every format reader takes and returns."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from acs_exporter.definitions.tables import LogTable
from acs_exporter.sources.base import Observation

# Records between two looks at the stop event: ~1 ms of parsing.
STOP_CHECK_EVERY = 256


class Reject(Protocol):
    def __call__(self, reason: str, where: str, message: str) -> None:
        """Count one unreadable record; `where` is `file:line` or a query-result row."""


# What Windows tools (Notepad, PowerShell) write at the start of a UTF-8 file; every format reads
# past it.
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class ReadRequest:
    file: BinaryIO
    display: str  # the path as shown in messages
    size: int  # the file's size when the poll began: never read past it
    offset: int  # where to resume: bytes (line formats) or rows (documents)
    line: int  # lines consumed so far, for file:line messages
    limit: int  # at most this many records in this read
    final: bool  # the file has stopped growing: a last line without newline is complete
    reject: Reject
    advance: Callable[[int], None]  # progress, in the unit of `offset`
    # Set at shutdown: the read ends early (at_end False), so the batch read so far is
    # counted with a cursor right after it, and the process exits without parsing on.
    stop: threading.Event | None = None
    max_line: int = 1024 * 1024  # line formats: longer lines are rejected as line_too_long

    def stopping(self, records: int) -> bool:
        """True when `stop` is set; looked at every STOP_CHECK_EVERY records (cheap)."""
        return records % STOP_CHECK_EVERY == 0 and self.stop is not None and self.stop.is_set()


@dataclass(slots=True)
class ReadResult:
    offset: int
    line: int
    at_end: bool  # nothing more to read now
    records: int = 0  # records handled (counted or rejected)
    # The file cannot be read at all (a CSV header that cannot be): rejected once, then skipped
    # until it changes.
    failed: bool = False
    # Per table, how often each observation was read.
    counts: dict[LogTable, Counter[Observation]] = field(default_factory=dict)

    def add(self, table: LogTable, observation: Observation) -> None:
        counter = self.counts.get(table)
        if counter is None:
            counter = self.counts[table] = Counter()
        counter[observation] += 1
