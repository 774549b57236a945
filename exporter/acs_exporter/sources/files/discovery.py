"""Which files to read: the configured paths and patterns now, one name per file, and the
files that moved to another matching path (log rotation), whose progress moves with them."""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from acs_exporter.sources.files.cursor import FileProgress, head_hash
from acs_exporter.sources.files.settings import FilesSettings

log = logging.getLogger("acs_exporter.sources.files")


class Discovery:
    """Lists the files the settings name; reports a missing path or empty pattern once."""

    def __init__(self, settings: FilesSettings) -> None:
        self._settings = settings
        self._reported: set[str] = set()

    def report_once(self, key: str) -> bool:
        """True the first time `key` is seen: a condition logged once per process."""
        if key in self._reported:
            return False
        self._reported.add(key)
        return True

    def paths(self) -> list[Path]:
        """Every file the configured paths and patterns name now, absolute, sorted, once."""
        found: set[Path] = set()
        for pattern in self._settings.paths:
            text = os.path.expanduser(str(pattern))
            found.update(self._matches(text))
        return one_name_per_file(found)

    def _matches(self, text: str) -> list[Path]:
        name = self._settings.name
        if not glob.has_magic(text):
            path = Path(text)
            if path.is_file():
                return [path.absolute()]
            if self.report_once(text):
                kind = "is not a file" if path.exists() else "does not exist (yet)"
                log.warning("%s: %s %s", name, path, kind)
            return []
        matches = [Path(p) for p in glob.glob(text, recursive=True)]
        if not matches and self.report_once(text):
            log.warning("%s: pattern %s matches no file (yet)", name, text)
        return [m.absolute() for m in matches if m.is_file()]


def one_name_per_file(paths: set[Path]) -> list[Path]:
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


@dataclass
class Moves:
    """Rotation within one fetch: progress as the cursor had it, and which of it moved."""

    before: dict[str, FileProgress]
    adopted: set[str] = field(default_factory=set)  # keys of `before` taken over this fetch

    def moved_here(self, key: str, head: bytes, size: int, mtime_ns: int) -> FileProgress | None:
        """The progress of a file that was at another path and moved to `key` (log rotation:
        `calls.jsonl` renamed `calls.jsonl.1`, both matching the pattern), or None.

        Taken over only from a path that no longer holds that file (gone, or holding
        another), so a copy beside its original is still a file of its own (documented:
        counted twice).
        """
        hashes: dict[int, str] = {}  # one hash per head length, however many entries there are
        for other, entry in self.before.items():
            if other == key or other in self.adopted or len(head) < entry.head_len:
                continue
            if entry.head_len not in hashes:
                hashes[entry.head_len] = head_hash(head[: entry.head_len])
            if (
                hashes[entry.head_len] != entry.head
                or not same_file(entry, head, size, mtime_ns)
                or _still_holds(other, entry)
            ):
                continue
            self.adopted.add(other)
            log.info("%s: continues %s (moved here), at line %d", key, other, entry.line)
            return replace(entry, rotated=True)
        return None

    def forget_moved(self, progress: dict[str, FileProgress]) -> None:
        """Drop the progress left at paths whose file moved away (it moved with the file)."""
        for key in self.adopted:
            if key in progress and not os.path.lexists(key):
                del progress[key]


def _still_holds(path: str, entry: FileProgress) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(entry.head_len)
    except OSError:
        return False
    return len(head) == entry.head_len and head_hash(head) == entry.head


def same_file(entry: FileProgress, head: bytes, size: int, mtime_ns: int) -> bool:
    """Whether the file now at the entry's path (`head`, `size`) is the one it describes."""
    if len(head) < entry.head_len or head_hash(head[: entry.head_len]) != entry.head:
        return False
    if entry.format == "log-analytics-json":
        # A document is read whole: any change makes it a new document.
        return size == entry.size and mtime_ns == entry.mtime_ns
    return size >= entry.offset
