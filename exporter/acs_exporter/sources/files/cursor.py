"""How far each file has been read, and the cursor that saves it.

The cursor is `CursorFormat` kind "files": its position is `{"files": {path: progress},
"unknown_format": [path, ...]}`. Cursors of the previous release (`{"version": 1, "files":
...}`, no envelope) are read as they are, so an upgrade continues where it stopped. Anything
else is SourceError "bad_cursor" naming what is wrong: a damaged checkpoint is never read as
"start every file over" (that would count every record again).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import cast

from acs_exporter.inputs.redact import shorten_repr
from acs_exporter.sources.base import Cursor
from acs_exporter.sources.cursor import CursorFormat, flat_legacy
from acs_exporter.sources.formats.detect import Format

FORMATS: tuple[Format, ...] = ("diagnostic-jsonl", "log-analytics-json", "csv")
# The layout of the previous release's cursor, read by `_legacy`.
LEGACY_VERSION = 1
_COUNTERS = ("head_len", "offset", "line", "size", "mtime_ns")
_FLAGS = ("failed", "complete", "rotated")


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
    def from_cursor(cls, path: str, value: Cursor) -> FileProgress:
        """Raises SourceError "bad_cursor" naming the file and the field that is wrong."""
        if not isinstance(value, dict):
            raise _bad(path, f"expected an object, got {shorten_repr(value)}")
        fmt = value.get("format")
        if fmt not in FORMATS:
            raise _bad(path, f"format {shorten_repr(fmt)} is not one of {', '.join(FORMATS)}")
        head = value.get("head")
        if not isinstance(head, str):
            raise _bad(path, f"head: expected a string, got {shorten_repr(head)}")
        for key in _COUNTERS:
            number = value.get(key)
            if not (isinstance(number, int) and not isinstance(number, bool) and number >= 0):
                raise _bad(path, f"{key}: expected a whole number >= 0, got {shorten_repr(number)}")
        for key in _FLAGS:
            if not isinstance(value.get(key, False), bool):
                raise _bad(
                    path, f"{key}: expected true or false, got {shorten_repr(value.get(key))}"
                )
        head_len, offset, line, size, mtime_ns = (cast(int, value[k]) for k in _COUNTERS)
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


# The previous release saved the position flat beside `"version": 1`.
CURSOR = CursorFormat(kind="files", version=2, legacy=flat_legacy(LEGACY_VERSION, "files"))


@dataclass(slots=True)
class SavedCursor:
    """What the cursor holds: each file's progress, and the files of unknown format that were
    already counted as rejected (so a file is counted once, also across restarts, and a
    batch that was not applied counts it again)."""

    files: dict[str, FileProgress]
    unknown_format: set[str]

    @classmethod
    def read(cls, cursor: Cursor) -> SavedCursor:
        """Raises SourceError "bad_cursor" on anything this or the previous release did not
        write; None (a first start) is an empty cursor."""
        position = CURSOR.unwrap(cursor)
        if position is None:
            return cls({}, set())
        if not isinstance(position, dict):
            raise CURSOR.error(f"position: expected an object, got {shorten_repr(position)}")
        files = position.get("files")
        if not isinstance(files, dict):
            raise CURSOR.error(f"files: expected an object, got {shorten_repr(files)}")
        unknown = position.get("unknown_format", [])
        if not isinstance(unknown, list) or not all(isinstance(p, str) for p in unknown):
            raise CURSOR.error(
                f"unknown_format: expected a list of paths, got {shorten_repr(unknown)}"
            )
        progress = {key: FileProgress.from_cursor(key, value) for key, value in files.items()}
        return cls(progress, set(cast(list[str], unknown)))

    def write(self) -> Cursor:
        position: dict[str, Cursor] = {
            "files": {k: v.to_cursor() for k, v in sorted(self.files.items())}
        }
        if self.unknown_format:
            position["unknown_format"] = list[Cursor](sorted(self.unknown_format))
        return CURSOR.wrap(position)


def head_hash(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()


def _bad(path: str, what: str) -> Exception:
    return CURSOR.error(f"files[{path!r}]: {what}")
