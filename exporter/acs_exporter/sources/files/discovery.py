"""Which files to read: the configured paths and patterns now, one name per file, and the
files that moved to another matching path (log rotation), whose progress moves with them."""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from acs_exporter.sources.files.cursor import FileProgress, head_hash
from acs_exporter.sources.files.settings import FilesSettings

log = logging.getLogger("acs_exporter.sources.files")


@dataclass(frozen=True, slots=True)
class Listing:
    """The files the configured paths and patterns name now, and what could not be looked at:
    `unreadable` says, per path, why (`/data/sub: cannot list: Permission denied`). A file or
    directory that is there but cannot be read may hold records: the source is not caught up
    while it cannot read it."""

    paths: list[Path]
    unreadable: list[str]


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

    def paths(self) -> Listing:
        """Every file the configured paths and patterns name now, absolute, sorted, once."""
        found: set[Path] = set()
        unreadable: dict[str, str] = {}
        for pattern in self._settings.paths:
            text = os.path.expanduser(str(pattern))
            found.update(self._matches(text, unreadable))
        for misnamed in [p for p in found if not _utf8(p)]:
            # Its name cannot be a key of the checkpoint (JSON is UTF-8): reading it would fail
            # every commit of the source. Named as the filesystem spells it.
            found.discard(misnamed)
            shown = os.fsencode(misnamed).decode("utf-8", "backslashreplace")
            unreadable[shown] = "the name is not UTF-8 (rename the file to read it)"
        for path, why in unreadable.items():
            if self.report_once(f"unreadable:{path}:{why}"):
                log.warning(
                    "%s: %s: %s (tried again at every poll)", self._settings.name, path, why
                )
        return Listing(one_name_per_file(found), [f"{p}: {why}" for p, why in unreadable.items()])

    def _matches(self, text: str, unreadable: dict[str, str]) -> list[Path]:
        name = self._settings.name
        if not glob.has_magic(text):
            path = Path(text)
            if _is_file(path, unreadable):
                return [path.absolute()]
            if str(path.absolute()) not in unreadable and self.report_once(text):
                kind = "is not a file" if path.exists() else "does not exist (yet)"
                log.warning("%s: %s %s", name, path, kind)
            return []
        walk = Walk()
        matches = [Path(p) for p in walk.glob(text)]
        unreadable.update(walk.unreadable)
        if not matches and not walk.unreadable and self.report_once(text):
            log.warning("%s: pattern %s matches no file (yet)", name, text)
        return [m.absolute() for m in matches if _is_file(m, unreadable)]


def _utf8(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by os.fsdecode as lone surrogates
        return False
    return True


def _why(error: OSError) -> str:
    return error.strerror or str(error)


# Errors that mean "not there": anything else (EACCES above all) means "there, but unreadable".
_ABSENT = (FileNotFoundError, NotADirectoryError)


def _is_file(path: Path, unreadable: dict[str, str]) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except _ABSENT:
        return False
    except OSError as error:  # e.g. under a directory it may list but not enter
        unreadable[str(path.absolute())] = _why(error)
        return False


class Walk:
    """glob.glob(pattern, recursive=True): the same matches, by the same rules (`**` any
    directories, hidden names only for a pattern that starts with a dot), except that a
    directory it cannot list or a path it cannot look up goes into `unreadable` instead of
    being taken for empty or absent (glob silently ignores every OSError)."""

    def __init__(self) -> None:
        self.unreadable: dict[str, str] = {}

    def glob(self, pathname: str) -> list[str]:
        # As glob: a pattern that is `**` alone does not match "" (the current directory).
        return [match for match in self._glob(pathname, dironly=False) if match]

    def _glob(self, pathname: str, dironly: bool) -> Iterator[str]:
        dirname, basename = os.path.split(pathname)
        if not glob.has_magic(pathname):
            if self._exists(pathname) if basename else self._is_dir(dirname):
                yield pathname
            return
        if not dirname:
            yield from self._in(dirname, basename, dironly)
            return
        magic_dir = dirname != pathname and glob.has_magic(dirname)
        for parent in self._glob(dirname, dironly=True) if magic_dir else [dirname]:
            for name in self._in(parent, basename, dironly):
                yield os.path.join(parent, name)

    def _in(self, dirname: str, basename: str, dironly: bool) -> Iterator[str]:
        """The names in `dirname` that `basename` (one component of the pattern) matches."""
        if not glob.has_magic(basename):
            if self._exists(os.path.join(dirname, basename)) if basename else self._is_dir(dirname):
                yield basename
        elif basename == "**":
            yield ""  # `**` also matches no directory at all
            yield from self._below(dirname, dironly, frozenset({_identity(dirname or os.curdir)}))
        else:
            names = [name for name, _ in self._list(dirname, dironly)]
            if not basename.startswith("."):
                names = [n for n in names if not n.startswith(".")]
            yield from fnmatch.filter(names, basename)

    def _below(
        self, dirname: str, dironly: bool, inside: frozenset[tuple[int, int] | None]
    ) -> Iterator[str]:
        """What `**` matches below `dirname`. `inside`: the directories (device, inode) the walk
        is in. A link back to one of them (`ln -s . current`) is not entered: glob follows it
        until ELOOP, 2**40 listings for two such links, for names that add no file (the same
        files, one name each: one_name_per_file). Links to other directories are followed."""
        for name, is_dir in self._list(dirname, dironly):
            if name.startswith("."):
                continue
            yield name
            path = os.path.join(dirname, name)
            if not is_dir:
                continue
            identity = _identity(path)
            if identity not in inside:
                # (Not known, None: entered, and its listing says why it cannot be read.)
                for below in self._below(path, dironly, inside | {identity}):
                    yield os.path.join(name, below)

    def _list(self, dirname: str, dironly: bool) -> list[tuple[str, bool]]:
        """(name, is a directory) of each entry (of each directory, when `dironly`)."""
        try:
            with os.scandir(dirname or os.curdir) as entries:
                listed = [(entry.name, _entry_is_dir(entry)) for entry in entries]
        except _ABSENT:
            return []
        except OSError as error:
            self.unreadable[os.path.abspath(dirname or os.curdir)] = f"cannot list: {_why(error)}"
            return []
        return [(name, is_dir) for name, is_dir in listed if is_dir or not dironly]

    def _exists(self, path: str) -> bool:
        return self._stat(path, os.lstat) is not None

    def _is_dir(self, path: str) -> bool:
        found = self._stat(path, os.stat)
        return found is not None and stat.S_ISDIR(found.st_mode)

    def _stat(self, path: str, how: Callable[[str], os.stat_result]) -> os.stat_result | None:
        try:
            return how(path)
        except _ABSENT:
            return None
        except OSError as error:
            self.unreadable[os.path.abspath(path)] = _why(error)
            return None


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the directory `path` leads to; None when it cannot be looked up."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _entry_is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


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
    """Rotation within one fetch: each path's progress, and which of it moved.

    `before` starts as the cursor had it and follows each file read on at its own path this
    fetch (a file read at `calls.jsonl` and renamed `calls.jsonl.1` before that path is read
    continues where this fetch left it, not where the cursor had it). A path whose progress
    described another file than the one now there is `displaced`: that file moved away, and
    `before` keeps its progress for it to continue at its new path."""

    before: dict[str, FileProgress]
    adopted: set[str] = field(default_factory=set)  # keys of `before` taken over this fetch
    displaced: set[str] = field(default_factory=set)

    def read_on(self, key: str, entry: FileProgress) -> None:
        """`entry`, the progress now at `key`, was read this fetch: the latest for its file,
        unless `key` held another file's progress (kept for that one)."""
        if key not in self.displaced:
            self.before[key] = replace(entry)

    def lost(self) -> bool:
        """Whether a file that moved away has not been found at its new path this fetch."""
        return bool(self.displaced - self.adopted)

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
