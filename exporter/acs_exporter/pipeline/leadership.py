"""Leader and standbys over one checkpoint blob (state.backend azure_blob).

One thread per replica. A standby re-reads the blob every refresh interval and serves what the
leader committed (so either replica's /metrics shows the same monotonic counters), and tries to
take the lease; the first to get it re-reads the blob under the lease, starts from it, and polls.
The leader renews every sixth of the lease period; when renewals fail (storage unreachable) it
keeps polling, but a batch is counted only once committed, and it stops writing a margin before
the lease could lapse, then competes for it again like a standby.

The sources are wrapped (`GatedSource`): a fetch waits until this replica leads, then reads from
the cursor of the state the term started from, bound to that term (blob_store.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from acs_exporter.definitions import metrics as defs
from acs_exporter.definitions.metrics import MetricDef
from acs_exporter.exposition.snapshot import Family
from acs_exporter.pipeline.blob_store import BlobCheckpoint, StateStoreError, WriteConflict
from acs_exporter.pipeline.checkpoint import CheckpointError
from acs_exporter.pipeline.state import Change, State
from acs_exporter.sources.base import Batch, Cursor, Source

log = logging.getLogger("acs_exporter.pipeline.leadership")

# How often a waiting fetch looks whether this replica leads (or must stop).
GATE_CHECK_SECONDS = 0.1


class Follower(Protocol):
    """What leadership needs of the exporter (daemon.Exporter)."""

    def adopt(self, state: State) -> None: ...
    def follow(self, base: State, state: State, changes: Sequence[Change]) -> None: ...
    def republish(self) -> None: ...
    def cursor(self, source: str) -> Cursor: ...


class Leadership:
    """The lease loop and this replica's `RoleReport` (daemon.Exporter's `role`)."""

    def __init__(self, store: BlobCheckpoint, refresh_seconds: float) -> None:
        self._store = store
        self._refresh = refresh_seconds
        self._renew_every = store.lease_seconds / 6
        self._follower: Follower | None = None
        self._error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="state-lease", daemon=True)

    def attach(self, follower: Follower) -> None:
        self._follower = follower

    def cursor(self, source: str) -> Cursor:
        """The followed exporter's cursor of `source` (what a new term polls from)."""
        return self._follower.cursor(source) if self._follower is not None else None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.step()
            except Exception:  # the loop must go on: a dead loop would leave a leader writing
                log.exception("the state lease loop failed unexpectedly")
                self._store.end_term()
                wait = self._refresh
            self._stop.wait(wait)

    def step(self) -> float:
        """One turn: renew (leader) or follow and try the lease (standby). Returns the wait."""
        if self._store.leading():
            self._renew()
            return self._renew_every
        self._follow()
        return self._renew_every if self._store.leading() else self._refresh

    def _renew(self) -> None:
        try:
            self._store.renew()
        except WriteConflict as exc:
            self._stepped_down(str(exc))
        except StateStoreError as exc:
            self._failed(f"cannot renew the lease: {exc}")
            if self._store.expired():
                self._store.end_term()
                self._stepped_down("the lease could not be renewed before its margin")
        else:
            self._succeeded()

    def _follow(self) -> None:
        follower = self._follower
        try:
            newer = self._store.refresh()
            if newer is not None and follower is not None:
                increments = self._store.increments(newer)
                if increments is None:
                    follower.adopt(newer)
                else:  # only the blocks after what was read: applied as such
                    follower.follow(increments[0], newer, increments[1])
            if self._store.try_acquire():
                state = self._store.load()  # under the lease: the last commit of any leader
                if follower is not None:
                    follower.adopt(state)
                self._store.begin_term()
                log.info("this replica leads: it holds the checkpoint lease and polls")
                if follower is not None:
                    follower.republish()
        except (StateStoreError, CheckpointError) as exc:
            self._failed(str(exc))
        else:
            self._succeeded()

    def _stepped_down(self, why: str) -> None:
        log.warning("this replica no longer leads; it stops polling", extra={"reason": why})
        if self._follower is not None:
            self._follower.republish()

    def _failed(self, message: str) -> None:
        if self._error is None:
            log.error(
                "the checkpoint storage failed; nothing is counted until it is committed",
                extra={"store": self._store.where, "error": message},
            )
        changed = self._error != message
        self._error = message
        if changed and self._follower is not None:
            self._follower.republish()

    def _succeeded(self) -> None:
        if self._error is None:
            return
        log.info("the checkpoint storage works again", extra={"store": self._store.where})
        self._error = None
        if self._follower is not None:
            self._follower.republish()

    # --- RoleReport ---

    def standby(self) -> bool:
        return not self._store.leading()

    def problems(self) -> tuple[str, ...]:
        if self._error is None:
            return ()
        return (f"state store {self._store.where}: {self._error}",)

    def families(self) -> tuple[Family, ...]:
        store = self._store
        return (
            _gauge(defs.STATE_LEADER, 1.0 if store.leading() else 0.0),
            _gauge(defs.STATE_STORE_UP, 0.0 if self._error else 1.0),
            _gauge(defs.STATE_COMMITS, float(store.commits)),
            _gauge(defs.STATE_WRITE_CONFLICTS, float(store.conflicts)),
        )


def _gauge(metric: MetricDef, value: float) -> Family:
    """A family of one unlabelled sample (gauge or counter, as the definition says)."""
    return Family(metric.name, metric.help, metric.kind, (), (((), value),))


class GatedSource:
    """A source polled only while this replica leads, from the cursor its term started from."""

    def __init__(
        self,
        source: Source,
        store: BlobCheckpoint,
        cursor: Callable[[str], Cursor],
        stop: threading.Event,
    ) -> None:
        self._source = source
        self._store = store
        self._cursor = cursor
        self._stop = stop

    @property
    def name(self) -> str:
        return self._source.name

    def fetch(self, cursor: Cursor) -> Batch:
        # The cursor given was read before the wait: a standby's view, older than the
        # state the term starts from. Read it again once leading.
        while not self._store.bind_term():
            if self._stop.wait(GATE_CHECK_SECONDS):
                return Batch()  # stopping: nothing read, nothing to count
        return self._source.fetch(self._cursor(self.name))

    def close(self) -> None:
        self._source.close()
