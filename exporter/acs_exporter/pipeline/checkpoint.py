"""The checkpoint file: cursors and cumulative counts, written atomically with a checksum.

Layout: one JSON header line (format, version, sha256 of the body), then the JSON body. Writes
go to a temporary file in the same directory, are fsynced, renamed over the old file, and the
directory is fsynced, so after a crash the file is either the old or the new one, whole.

A checkpoint that cannot be read is never replaced silently: doing so would reset every counter
and re-count (or skip) calls. Start-up stops with a message saying what is wrong and how out.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Any

import orjson

from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.inputs.redact import shorten_repr
from acs_exporter.pipeline.state import State

FORMAT = "acs-exporter-checkpoint"
VERSION = 1


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
    def __init__(self, path: Path, plan: LabelPlan) -> None:
        self.path = path  # as configured: named in messages
        self._plan = plan
        self._lock: IO[bytes] | None = None
        self._real: Path | None = None  # pinned by lock()

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
        abandoned = re.compile(re.escape(f".{real.name}.") + r"[a-z0-9_]{8}")
        for candidate in real.parent.iterdir():
            if abandoned.fullmatch(candidate.name):
                candidate.unlink(missing_ok=True)

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None
            self._real = None

    def load(self) -> State:
        """The saved state, or an empty one when no checkpoint exists yet."""
        try:
            raw = self.real_path.read_bytes()
        except FileNotFoundError:
            return State()
        except OSError as exc:
            raise CheckpointError(self.path, f"cannot read it ({exc.strerror})") from None
        return decode(raw, self._plan, self.path)

    def save(self, state: State) -> None:
        """Atomically replace the checkpoint with `state`. Raises OSError on failure."""
        data = encode(state, self._plan)
        real = self.real_path
        directory = real.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{real.name}.", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, real)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def encode(state: State, plan: LabelPlan) -> bytes:
    """A checkpoint's bytes: the header line (format, version, sha256 of the body), the body.
    One format for every state backend (file, Azure blob)."""
    body = orjson.dumps(state.to_data(plan))
    header = orjson.dumps(
        {"format": FORMAT, "version": VERSION, "sha256": hashlib.sha256(body).hexdigest()}
    )
    return header + b"\n" + body


def decode(raw: bytes, plan: LabelPlan, where: Path | str) -> State:
    """The state in a checkpoint's bytes; CheckpointError naming `where` if they are not one."""
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
    if header.get("sha256") != hashlib.sha256(body).hexdigest():
        raise CheckpointError(where, "checksum mismatch (the file is corrupt or truncated)")
    try:
        data: Any = orjson.loads(body)
        state = State.from_data(data, plan)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(where, f"the body is not a valid checkpoint ({exc})") from None
    try:
        # A count beyond 64 bits (e.g. written as 1.9e19) loads, but no save would succeed
        # again: every poll would fail. Refuse it now, in run and check-config alike.
        orjson.dumps(state.to_data(plan))
    except TypeError as exc:
        raise CheckpointError(where, f"its counts cannot be saved again ({exc})") from None
    return state
