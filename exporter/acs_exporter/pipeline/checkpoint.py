"""The checkpoint: cursors and cumulative counts, as a snapshot file plus a journal of batches.

The snapshot (`state.path`): one JSON header line (format, version, sha256 of the body), then
the JSON body. It is written whole to a temporary file in the same directory, fsynced, renamed
over the old one, and the directory is fsynced, so after a crash it is the old or the new one.

The journal (`<state.path>.journal`, journal.py): every committed batch appends one small
record (its increments and cursor), fdatasynced before the batch is published, so a poll writes
bytes in proportion to what changed. Compaction writes a new snapshot and then removes the
journal; it runs at the first commit after start-up, when the journal outgrows its bound in
bytes or age, and at shutdown. Loading reads the snapshot and replays the journal that extends
it (journal.py says how torn tails and stale journals are told from damage).

A checkpoint that cannot be read is never replaced silently: doing so would reset every counter
and re-count (or skip) calls. Start-up stops with a message saying what is wrong and how out.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import orjson

from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.inputs.redact import shorten_repr
from acs_exporter.pipeline import journal
from acs_exporter.pipeline.journal import Appender, JournalDamaged
from acs_exporter.pipeline.state import Change, State

FORMAT = "acs-exporter-checkpoint"
VERSION = 1
# Compaction bounds: the journal is folded into a new snapshot once it holds this many bytes
# (or as many as the snapshot, if more: a full write costs at most as much as the journal
# replaced) or is this old, so a restart replays little and a full write stays rare.
COMPACT_BYTES = 1 << 20
COMPACT_SECONDS = 600.0


class CheckpointError(Exception):
    """The checkpoint cannot be used; the message says what is wrong and how to recover."""

    def __init__(self, path: Path | str, problem: str, way_out: str | None = None) -> None:
        self.path = path
        self.problem = problem
        if way_out is None:
            way_out = (
                "The exporter stops rather than start from zero, which would reset counters "
                "and re-read (or skip) calls.\n"
                "Way out: restore the file from a backup, or move it aside to start over "
                f"(`mv {path} {path}.broken`); counters then restart from zero, which "
                "Prometheus rate() and increase() handle as a counter reset, and the sources "
                "read again from their configured start."
            )
        super().__init__(f"checkpoint {path} cannot be used: {problem}.\n{way_out}")


class Checkpoint:
    def __init__(
        self,
        path: Path,
        plan: LabelPlan,
        *,
        compact_bytes: int = COMPACT_BYTES,
        compact_seconds: float = COMPACT_SECONDS,
    ) -> None:
        self.path = path  # as configured: named in messages
        self._plan = plan
        self._lock: IO[bytes] | None = None
        self._real: Path | None = None  # pinned by lock()
        self._compact_bytes = compact_bytes
        self._compact_seconds = compact_seconds
        # The sha256 of the snapshot this process last wrote (None: the next commit compacts,
        # so a journal this process did not write, torn tail and all, is never appended to),
        # its size, and the open journal extending it with when it was started.
        self._base: str | None = None
        self._snapshot_size = 0
        self._journal: Appender | None = None
        self._journal_started = 0.0

    @property
    def journal_path(self) -> Path:
        real = self.real_path
        return real.with_name(real.name + ".journal")

    @property
    def real_path(self) -> Path:
        """The file the configured path leads to, symlinks (of the file or of a directory)
        resolved. Locks, temporary files and the rename all act on it: two exporters reaching
        one file by different paths then meet on one lock, and a save through a symlink
        replaces the real file instead of the link."""
        if self._real is not None:
            return self._real
        return Path(os.path.realpath(self.path))

    def _named(self) -> str:
        real = self.real_path
        return str(real) if real == self.path else f"{real} (the real file of {self.path})"

    def lock(self) -> None:
        """Hold an exclusive lock on `<real path>.lock` for the life of the process, so two
        exporters sharing a volume cannot both count into (and overwrite) one checkpoint, by
        whatever path they name it. Also proves at start-up that the directory is writable.
        Raises CheckpointError."""
        real = self.real_path
        lock_path = real.with_name(real.name + ".lock")
        try:
            real.parent.mkdir(parents=True, exist_ok=True)
            handle = lock_path.open("ab")
        except OSError as exc:
            raise self._not_writable(exc) from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise CheckpointError(
                self.path,
                f"another acs-exporter process holds {lock_path}, the lock of {self._named()}",
                "Way out: give each exporter its own state.path, one that is not a symlink to "
                "another's (two exporters counting into one checkpoint would overwrite each "
                "other's counts), or stop the other one.",
            ) from None
        self._lock = handle
        self._real = real
        self._remove_abandoned_temporaries()

    def _not_writable(self, exc: OSError) -> CheckpointError:
        return CheckpointError(
            self.path,
            f"its directory is not writable ({exc.strerror or exc})",
            "Way out: give the exporter's user write access to the directory (in "
            "Kubernetes: a writable volume and fsGroup), or set state.path elsewhere.",
        )

    def check_writable(self) -> None:
        """What `lock` proves, without creating anything that stays or taking the lock (an
        exporter running with this checkpoint holds it): for `check-config`. Raises
        CheckpointError."""
        existing = self.path.parent
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent  # lock() would create the missing directories here
        try:
            fd, probe = tempfile.mkstemp(prefix=".acs-exporter-check.", dir=existing)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise self._not_writable(exc) from None

    def _remove_abandoned_temporaries(self) -> None:
        """A save killed before its rename (SIGKILL, OOM) leaves its temporary file behind, as
        big as the checkpoint; one per crash would fill the volume. Under the lock no other
        process is saving, so every one left is abandoned."""
        real = self.real_path
        abandoned = re.compile(re.escape(f".{real.name}.") + r"(journal\.)?[a-z0-9_]{8}")
        for candidate in real.parent.iterdir():
            if abandoned.fullmatch(candidate.name):
                candidate.unlink(missing_ok=True)

    def unlock(self) -> None:
        self._close_journal()
        if self._lock is not None:
            self._lock.close()
            self._lock = None
            self._real = None

    def load(self) -> State:
        """The saved state (the snapshot and the journal extending it), or an empty one when
        no checkpoint exists yet."""
        try:
            raw = self.real_path.read_bytes()
        except FileNotFoundError:
            return State()  # a journal without its snapshot extends nothing that exists
        except OSError as exc:
            raise CheckpointError(self.path, f"cannot read it ({exc.strerror})") from None
        body, digest = verified_body(raw, self.path)
        changes = self._journal_records(digest)
        return state_of(body, self._plan, self.path, changes)

    def _journal_records(self, base: str) -> list[Any]:
        """The records of the journal extending the snapshot whose body hashes to `base`."""
        path = self.journal_path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CheckpointError(path, f"cannot read it ({exc.strerror})") from None
        try:
            contents = journal.read(raw)
        except JournalDamaged as exc:
            raise CheckpointError(
                path,
                f"the journal of {self.path} is damaged: {exc}",
                "The exporter stops rather than lose or re-count the batches it records.\n"
                "Way out: restore the snapshot and its journal together from a backup, or "
                f"move the journal aside (`mv {path} {path}.broken`) to start from the "
                "snapshot alone: the batches recorded since it are then read again from "
                "the sources where they still can be, else lost.",
            ) from None
        return contents.records if contents.base == base else []

    def commit(self, state: State, change: Change) -> None:
        """Persist `state`, which is the last committed one plus `change`: one journal record,
        or a compaction when the journal is due for one. Durable when this returns. Raises
        OSError (then nothing of `change` counts as committed)."""
        if self._base is None or self._journal_due():
            self.compact(state)
            return
        record = journal.frame(orjson.dumps(change.to_data(self._plan)))
        try:
            if self._journal is None:
                real = self.real_path
                self._journal = Appender.create(
                    self.journal_path, self._base, f".{real.name}.journal."
                )
                self._journal_started = time.monotonic()
            self._journal.append(record)
        except BaseException:
            self._close_journal()
            self._base = None  # whatever is on disk now, the next commit rewrites it whole
            raise

    def _journal_due(self) -> bool:
        if self._journal is None:
            return False
        too_big = self._journal.size >= max(self._compact_bytes, self._snapshot_size)
        return too_big or time.monotonic() - self._journal_started >= self._compact_seconds

    def _close_journal(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def compact(self, state: State) -> None:
        """Write `state` as the new snapshot, then remove the journal it includes. Raises
        OSError."""
        self.save(state)

    def save(self, state: State) -> None:
        """Atomically replace the snapshot with `state` and remove the journal (`compact`).
        Raises OSError on failure."""
        self._close_journal()
        self._base = None
        data = encode(state, self._plan)
        real = self.real_path
        directory = real.parent
        directory.mkdir(parents=True, exist_ok=True)
        journal.write_atomically(real, data, f".{real.name}.")
        # Killed here, the journal is stale: its base is the previous snapshot, so it is
        # ignored at load (this snapshot holds all of it) and removed by the next compaction.
        self.journal_path.unlink(missing_ok=True)
        journal.fsync_directory(directory)
        body = data.partition(b"\n")[2]
        self._base = hashlib.sha256(body).hexdigest()
        self._snapshot_size = len(body)


def encode(state: State, plan: LabelPlan) -> bytes:
    """A checkpoint snapshot's bytes: the header line (format, version, sha256 of the body),
    then the body. One format for every state backend (file, Azure blob)."""
    body = orjson.dumps(state.to_data(plan))
    header = orjson.dumps(
        {"format": FORMAT, "version": VERSION, "sha256": hashlib.sha256(body).hexdigest()}
    )
    return header + b"\n" + body


def decode(raw: bytes, plan: LabelPlan, where: Path | str) -> State:
    """The state in a snapshot's bytes (no journal); CheckpointError naming `where` if they
    are not one."""
    body, _ = verified_body(raw, where)
    return state_of(body, plan, where, [])


def verified_body(raw: bytes, where: Path | str) -> tuple[bytes, str]:
    """The body of a snapshot's bytes and its sha256, once the header vouches for it."""
    header_line, newline, body = raw.partition(b"\n")
    try:
        header = orjson.loads(header_line)
    except orjson.JSONDecodeError:
        raise CheckpointError(where, "the header line is not JSON") from None
    if not newline or not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(where, f"not an {FORMAT} file")
    if header.get("version") != VERSION:
        raise CheckpointError(
            where,
            f"format version {shorten_repr(header.get('version'))} is not supported "
            f"(this exporter reads version {VERSION})",
        )
    digest = hashlib.sha256(body).hexdigest()
    if header.get("sha256") != digest:
        raise CheckpointError(where, "checksum mismatch (the file is corrupt or truncated)")
    return body, digest


def state_of(body: bytes, plan: LabelPlan, where: Path | str, changes: list[Any]) -> State:
    """The state of a verified body with its journal's `changes` applied."""
    try:
        data: Any = orjson.loads(body)
        state = State.from_data(data, plan, changes)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        what = "the body or its journal is" if changes else "the body is"
        raise CheckpointError(where, f"{what} not a valid checkpoint ({exc})") from None
    try:
        # A count beyond 64 bits (e.g. written as 1.9e19) loads, but no save would succeed
        # again: every poll would fail. Refuse it now, in run and check-config alike.
        orjson.dumps(state.to_data(plan))
    except TypeError as exc:
        raise CheckpointError(where, f"its counts cannot be saved again ({exc})") from None
    return state
