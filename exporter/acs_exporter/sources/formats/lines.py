"""Reading one line of a line format (JSON lines, CSV) within a length cap.

A line is read with `readline(cap + 1)`: never more than the cap in memory. A longer line is
skipped in bounded chunks up to its newline and reported as too long, so one 64 MiB line costs
a chunk of memory, not 64 MiB (docs/sources.md, "Bad input").
"""

from __future__ import annotations

from typing import BinaryIO, NamedTuple

SKIP_CHUNK = 64 * 1024


class Line(NamedTuple):
    data: bytes | None  # the line with its newline; None when it was longer than the cap
    length: int  # bytes it takes in the file


def next_line(f: BinaryIO, available: int, cap: int, final: bool) -> Line | None:
    """The line at the file's position, reading at most `available` bytes; None when there is
    no complete line yet (a last line without a newline counts as complete only if `final`).

    `cap` bounds the line's length without its newline. After a line, the file's position is
    just past it; after None it is undefined (the caller stops reading)."""
    if available <= 0:
        return None
    raw = f.readline(min(available, cap + 1))
    if not raw:
        return None
    if raw.endswith(b"\n"):
        return Line(raw, len(raw))
    if len(raw) <= cap:  # the end of the readable bytes, within the cap
        return Line(raw, len(raw)) if final and len(raw) == available else None
    start = f.tell() - len(raw)  # only here: a tell() per line would slow every read
    length = _skip_to_newline(f, len(raw), available)
    if length is None:
        return Line(None, available) if final else None
    f.seek(start + length)
    return Line(None, length)


def _skip_to_newline(f: BinaryIO, length: int, available: int) -> int | None:
    """Read on in chunks to the end of the line: its length with the newline, or None when the
    readable bytes end first."""
    while length < available:
        chunk = f.read(min(SKIP_CHUNK, available - length))
        if not chunk:
            return None
        newline = chunk.find(b"\n")
        if newline >= 0:
            return length + newline + 1
        length += len(chunk)
    return None


def too_long(length: int, cap: int) -> str:
    return f"line longer than {cap} bytes ({length} bytes, skipped; see max_line_bytes)"
