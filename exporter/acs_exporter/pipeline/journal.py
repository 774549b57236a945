"""The checkpoint journal: one appended record per committed batch, beside the last snapshot.

Layout: framed records, one per line, `<length> <sha256 of payload> <payload JSON>\\n`. The first
record is the header (format, version, and `base`: the sha256 of the snapshot body it extends);
every later one is a `state.Change` (a batch's increments and its cursor). A journal is created
whole (temporary file, fsync, rename), so its header is never torn; records are appended and
fdatasynced before the batch is published.

Reading: a bad last record is a torn tail (the process died during that append, so the batch
was never published): it is dropped. A bad record followed by more data is damage and refused.
A journal whose base is not the snapshot on disk predates it (compaction died between the
snapshot's rename and the journal's removal; the snapshot holds every record): it is ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

FORMAT = "acs-exporter-journal"
VERSION = 1


class JournalDamaged(Exception):
    """The journal cannot be read; the message says what and where (record number)."""


@dataclass(frozen=True)
class Contents:
    base: str  # sha256 of the snapshot body this journal extends
    records: list[Any]  # decoded Change data, in order
    torn_tail: bool  # a last record was dropped as never committed


def frame(payload: bytes) -> bytes:
    return b"%d %s %s\n" % (len(payload), hashlib.sha256(payload).hexdigest().encode(), payload)


def header(base: str) -> bytes:
    return frame(orjson.dumps({"format": FORMAT, "version": VERSION, "base": base}))


def _unframe(line: bytes) -> bytes | None:
    """The payload of one framed line (without its newline), or None if it is not whole."""
    length, _, rest = line.partition(b" ")
    digest, _, payload = rest.partition(b" ")
    if not length.isdigit() or int(length) != len(payload):
        return None
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        return None
    return payload


# Public: the blob backend's delta blocks are framed the same way (blob_journal.py).
unframe = _unframe


def read(raw: bytes) -> Contents:
    """Parse a journal. Raises JournalDamaged."""
    lines = raw.split(b"\n")
    # After the last newline: b"" when the last append completed, else part of a record.
    torn = lines.pop() != b""
    payloads: list[bytes] = []
    for number, line in enumerate(lines, start=1):
        payload = _unframe(line)
        if payload is None:
            if number == len(lines) and number > 1 and not torn:
                torn = True  # the last record, whole in length but not in content
                break
            raise JournalDamaged(f"record {number} is damaged (length or checksum mismatch)")
        payloads.append(payload)
    if not payloads:
        raise JournalDamaged("it has no header record")
    try:
        head = orjson.loads(payloads[0])
        records = [orjson.loads(p) for p in payloads[1:]]
    except orjson.JSONDecodeError as exc:
        raise JournalDamaged(f"a record with a valid checksum is not JSON ({exc})") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise JournalDamaged(f"not an {FORMAT} file")
    if head.get("version") != VERSION:
        raise JournalDamaged(f"format version {head.get('version')!r} is not supported")
    return Contents(str(head.get("base")), records, torn)


def fsync_directory(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_atomically(path: Path, content: bytes, temporary_prefix: str) -> None:
    """Replace `path` with `content`, whole or not at all after a crash: a temporary file in
    the same directory, fsynced, renamed over `path`, the directory fsynced. Raises OSError."""
    fd, temporary = tempfile.mkstemp(prefix=temporary_prefix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


class Appender:
    """An open journal that records are appended to, each durable when `append` returns."""

    def __init__(self, path: Path, fd: int, size: int) -> None:
        self.path = path
        self.size = size
        self._fd = fd

    @staticmethod
    def create(path: Path, base: str, temporary_prefix: str) -> Appender:
        """A new journal extending the snapshot `base`, made atomically (replacing any)."""
        content = header(base)
        write_atomically(path, content, temporary_prefix)
        return Appender(path, os.open(path, os.O_WRONLY | os.O_APPEND), len(content))

    def append(self, record: bytes) -> None:
        """Append one framed record and make it durable. On failure the journal is cut back
        to its last whole record (if that fails too the caller must compact before the next
        append: a partial record followed by a whole one would read as damage). Raises
        OSError."""
        try:
            view = memoryview(record)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fdatasync(self._fd)
        except OSError:
            # The caller compacts before the next append anyway (checkpoint.commit).
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.size)
            raise
        self.size += len(record)

    def close(self) -> None:
        os.close(self._fd)
