"""The running exporter: poll each source, apply and persist, publish snapshots, serve HTTP.

One thread per source (sources block on I/O), one HTTP server, one optional OTLP pusher. The
`Exporter` owns the state: a batch is summarised outside the lock, then, under it, applied to a
copy of the state, persisted, and only then published, so a scraped counter never goes down, not
even across a crash: what was served was already on disk.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from acs_exporter.catalog import Catalog
from acs_exporter.definitions import metrics as metric_defs
from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.exposition.end_reason_info import EndReasonInfo
from acs_exporter.exposition.families import (
    SourceHealth,
    build_info_family,
    disagreement_family,
    reload_families,
    self_families,
)
from acs_exporter.exposition.outcome_tables import OutcomeTables
from acs_exporter.exposition.snapshot import Snapshot
from acs_exporter.inputs.redact import scrub_text
from acs_exporter.pipeline.aggregate import CategorySource, Delta, Resolver, summarise
from acs_exporter.pipeline.backoff import Backoff
from acs_exporter.pipeline.reasons import DaemonQueryError, KnownReasons
from acs_exporter.pipeline.source_status import (
    LastError,
    SourceStatus,
    readiness_message,
    short_message,
)
from acs_exporter.pipeline.state import Change, State
from acs_exporter.pipeline.state_store import CheckpointStore, RoleReport
from acs_exporter.sources.base import Batch, Cursor, DiscoveryReport, Source, SourceError

log = logging.getLogger("acs_exporter.pipeline.daemon")

MAX_BACKOFF_SECONDS = 300.0
# From SIGTERM to exit: running polls get the grace less a reserve, which is for the final
# checkpoint write and closing the server. Below Kubernetes' default terminationGracePeriod (30s).
SHUTDOWN_GRACE_SECONDS = 10.0
SHUTDOWN_RESERVE_SECONDS = 1.0


@dataclass(frozen=True)
class Published:
    """What readers see: the snapshot and the readiness that goes with it."""

    snapshot: Snapshot
    not_ready: tuple[str, ...]
    sources: tuple[SourceStatus, ...] = ()  # for the landing page


class Exporter:
    """Owns the cumulative state and the published snapshot."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        source_names: Sequence[str],
        plan: LabelPlan = LabelPlan(),  # noqa: B008 (immutable)
        max_series: int = 2000,
        checkpoint: CheckpointStore | None = None,
        clock: Callable[[], float] = time.time,
        known_reasons: Mapping[str, KnownReasons] | None = None,
        category_source: CategorySource = "catalog",
        source_types: Mapping[str, str] | None = None,
        role: RoleReport | None = None,
    ) -> None:
        self._plan = plan
        # Leader or standby of a shared state store (leadership.py); None: the only replica.
        self._role = role
        self._max_series = max_series
        self._checkpoint = checkpoint
        self._clock = clock
        self._resolver = Resolver(catalog, category_source)
        self._lock = threading.Lock()
        self._closed = False
        self._warned_fold = False
        self._with_source = len(source_names) > 1
        self._state = checkpoint.load() if checkpoint else State()
        # Known reasons start at 0 (see reasons.py); others still appear with their first event.
        known = known_reasons or {}
        self._health = {
            name: SourceHealth(
                errors=dict.fromkeys(known.get(name, KnownReasons()).query_errors, 0)
            )
            for name in source_names
        }
        self._rejections = {
            name: known.get(name, KnownReasons()).rejections for name in source_names
        }
        self._errors: dict[str, str] = {}
        # Sources that have had a caught-up poll since start: before it, the counts served
        # lack part of what the source held at start-up (a backlog read in bounded batches).
        self._caught_up: set[str] = set()
        # What each source not caught up yet could not read at its last poll (Batch.unreadable).
        self._unreadable: dict[str, tuple[str, ...]] = {}
        # The last failure of each source, kept after a recovery (the landing page shows it).
        self._last_errors: dict[str, LastError] = {}
        self._types = dict(source_types or {})
        self._info = EndReasonInfo(catalog)
        self._static = (build_info_family(),)
        # The outcome families, updated per batch (None: to be built from the whole state).
        self._outcomes: OutcomeTables | None = None
        # (last reload successful, time of the last successful load): start-up is a load.
        self._reload = (True, clock())
        self._publish()

    # --- read side (any thread, lock-free: one reference read) ---

    def snapshot(self) -> Snapshot:
        return self._published.snapshot

    def cursor(self, source: str) -> Cursor:
        return self._state.cursors.get(source)

    @property
    def state(self) -> State:
        return self._state

    def source_statuses(self) -> tuple[SourceStatus, ...]:
        return self._published.sources

    def readiness(self) -> list[str]:
        """What keeps the exporter from being ready (empty: ready): published together with the
        snapshot, so /readyz never says ready before /metrics serves the first batch."""
        return list(self._published.not_ready)

    def _not_ready(self, healths: Mapping[str, SourceHealth]) -> tuple[str, ...]:
        problems = list(self._role.problems()) if self._role is not None else []
        if self._role is not None and self._role.standby():
            return tuple(problems)  # a standby serves the leader's counts: it polls nothing
        for name, health in sorted(healths.items()):
            if health.last_success is None:
                error = self._errors.get(name)
                problems.append(
                    f"source {name}: last poll failed: {error}"
                    if error
                    else f"source {name}: no successful poll yet"
                )
            elif name not in self._caught_up and self._unreadable.get(name):
                problems.append(f"source {name}: {_cannot_read(self._unreadable[name])}")
            elif name not in self._caught_up:
                problems.append(
                    f"source {name}: catching up: reading what it held at start-up in "
                    "bounded batches; the counts served are not complete yet"
                )
        # The state store's problem quotes the storage SDK's words (a proxy's, say).
        return tuple(scrub_text(problem) for problem in problems)

    # --- write side (source threads) ---

    def complete_poll(
        self,
        source: str,
        batch: Batch,
        duration: float,
        revoked: threading.Event | None = None,
    ) -> None:
        """Apply a fetched batch: persist, then publish. Raises OSError if persisting fails
        (nothing is applied then: the same cursor is fetched again). A batch of a poller whose
        `revoked` is set (see `revoke`) is dropped: another poller reads from the same cursor."""
        delta = summarise(batch, self._resolver, self._plan)
        with self._lock:
            if self._closed or (revoked is not None and revoked.is_set()):
                return  # the batch is abandoned, its cursor not advanced: read again later
            state, change = self._state.applied(source, delta, batch.cursor, self._max_series)
            changed = not delta.is_empty() or (
                batch.cursor is not None and batch.cursor != self._state.cursors.get(source)
            )
            if self._checkpoint is not None and changed:
                self._checkpoint.commit(state, change)
            self._count_in_families(change)  # committed: counted from here on
            if state.folded > self._state.folded and not self._warned_fold:
                self._warned_fold = True  # once per process: the counter tracks the rest
                log.warning(
                    "cardinality guard reached: labels of new series are counted as other "
                    f"(category kept, {metric_defs.FOLDED_RECORDS.sample} says which); raise "
                    "metrics.max_series to see them",
                    extra={"source": source, "max_series": self._max_series},
                )
            self._state = state
            watermark = batch.watermark.timestamp() if batch.watermark else None
            self._errors.pop(source, None)
            # Caught up only when it also read everything there is: a file it cannot read
            # (yet) may hold what it had at start-up. Once caught up, it stays so (documented).
            self._unreadable[source] = batch.unreadable
            if batch.caught_up and not batch.unreadable:
                self._caught_up.add(source)
            self._record(source, True, duration, None, watermark, discovery=batch.discovery)

    def fail_poll(
        self,
        source: str,
        reason: str,
        message: str,
        duration: float,
        *,
        revoked: threading.Event | None = None,
        cursor: Cursor = None,
        discovery: DiscoveryReport | None = None,
    ) -> str:
        """Record a failed poll. `cursor` (SourceError.cursor) only fixes starting points the
        source planned; it is kept (and persisted) so the retry starts there, counting nothing.
        Returns the error as /readyz quotes it (`reason: message`, scrubbed and bounded), for
        the log line to quote it the same way."""
        # Scrubbed before the lock is taken: the scrapes' snapshot is published under it.
        for_readiness = readiness_message(reason, message)
        last_error = LastError(reason, short_message(message), self._clock())
        with self._lock:
            if revoked is not None and revoked.is_set():
                return for_readiness  # a retired poller's failure says nothing of its successor
            if cursor is not None and not self._closed:
                self._keep_cursor(source, cursor)
            self._errors[source] = for_readiness
            self._last_errors[source] = last_error
            self._record(source, False, duration, reason, None, discovery=discovery)
        return for_readiness

    def _keep_cursor(self, source: str, cursor: Cursor) -> None:
        if cursor == self._state.cursors.get(source):
            return
        state, change = self._state.applied(source, Delta(), cursor, self._max_series)
        if self._checkpoint is not None:
            try:
                self._checkpoint.commit(state, change)
            except OSError as exc:  # kept in memory; the next saved batch carries it
                log.error(
                    "could not persist the planned start",
                    extra={"source": source, "error": str(exc)},
                )
        self._state = state

    def revoke(self, revoked: threading.Event) -> None:
        """Set `revoked` under the state lock: once this returns, a batch of that poller is
        either fully applied (and its cursor visible to `cursor`) or will be dropped. So a
        successor started afterwards never reads from a cursor its predecessor then moves."""
        with self._lock:
            revoked.set()

    def reconfigure(
        self,
        *,
        catalog: Catalog,
        source_names: Sequence[str],
        known_reasons: Mapping[str, KnownReasons] | None = None,
        max_series: int,
        category_source: CategorySource = "catalog",
        source_types: Mapping[str, str] | None = None,
    ) -> None:
        """Apply a reloaded configuration. Counts and cursors stay (also of removed sources,
        which come back where they were if re-added); new sources start with zero series."""
        resolver = Resolver(catalog, category_source)
        known = known_reasons or {}
        with self._lock:
            self._resolver = resolver
            self._info = EndReasonInfo(catalog)  # the new catalog's words, rows rebuilt below
            self._max_series = max_series
            for name in source_names:
                if name not in self._health:
                    reasons = known.get(name, KnownReasons())
                    self._health[name] = SourceHealth(errors=dict.fromkeys(reasons.query_errors, 0))
                    self._rejections[name] = reasons.rejections
            for name in set(self._health) - set(source_names):
                del self._health[name]
                self._rejections.pop(name, None)
                self._errors.pop(name, None)
                self._last_errors.pop(name, None)
                self._caught_up.discard(name)
                self._unreadable.pop(name, None)
            self._types.update(source_types or {})
            self._with_source = len(source_names) > 1
            self._outcomes = None  # the `source` label may have come or gone
            self._publish()

    def adopt(self, state: State) -> None:
        """Serve `state`, the checkpoint another replica (the leader) committed: a standby
        follows it, and a new leader starts from it before its first poll."""
        with self._lock:
            if self._closed:
                return
            self._state = state
            self._outcomes = None  # a whole other state: its families are built whole
            self._publish()

    def follow(self, base: State, state: State, changes: Sequence[Change]) -> None:
        """Serve `state`, the leader's commit that is `base` plus `changes` (a standby reading
        the new blocks of the blob): when `base` is what this replica serves, the outcome
        families change by the changes alone, as after a poll; else `state` is adopted whole."""
        with self._lock:
            if self._closed:
                return
            if self._state is not base:
                self._outcomes = None
            else:
                for change in changes:
                    self._count_in_families(change)
            self._state = state
            self._publish()

    def _count_in_families(self, change: Change) -> None:
        """The outcome families after a committed `change` (its series as the guard placed
        them): a poll's own, or one a standby read from its leader's blob. Without families
        yet (None), the next publication builds them whole from the state."""
        if self._outcomes is not None:
            source = change.source
            self._outcomes.add(((source, key), n) for key, n in change.series.items())

    def republish(self) -> None:
        """Rebuild the snapshot and readiness (the role or the state store's health changed)."""
        with self._lock:
            self._publish()

    def record_reload(self, ok: bool) -> None:
        with self._lock:
            self._reload = (ok, self._clock() if ok else self._reload[1])
            self._publish()

    def close(self, timeout: float = -1) -> None:
        """Stop accepting batches and persist the final state. Waits at most `timeout` seconds
        (-1: for ever) for a batch being saved; every applied batch was saved already, so this
        last write only refreshes the file and may be skipped."""
        if not self._lock.acquire(timeout=timeout):
            self._closed = True
            log.error(
                "final checkpoint write skipped: a batch was still being saved at the end of "
                "the shutdown grace period (every batch counted before it is saved)"
            )
            return
        try:
            self._closed = True
            if self._checkpoint is None:
                return
            try:
                # A full snapshot: the next start replays no journal.
                self._checkpoint.compact(self._state)
            except OSError as exc:
                # Every applied batch was already saved; this last write only compacts it.
                log.error("final checkpoint write failed", extra={"error": str(exc)})
            self._checkpoint.unlock()
        finally:
            self._lock.release()

    def _publish(self) -> None:
        """Rebuild what readers see from the current health (under the lock)."""
        self._published = self._publication(self._build(self._health), self._health)

    def _publication(self, snapshot: Snapshot, healths: Mapping[str, SourceHealth]) -> Published:
        statuses = tuple(
            SourceStatus(
                name=name,
                type=self._types.get(name, ""),
                up=health.up,
                last_success=health.last_success,
                watermark=health.watermark,
                last_error=self._last_errors.get(name),
            )
            for name, health in sorted(healths.items())
        )
        return Published(snapshot, self._not_ready(healths), statuses)

    def _record(
        self,
        source: str,
        ok: bool,
        duration: float,
        reason: str | None,
        watermark: float | None,
        *,
        discovery: DiscoveryReport | None = None,
    ) -> None:
        now = self._clock()
        health = self._health.get(source, SourceHealth())
        after = health.after_poll(ok, duration, now, reason, watermark, discovery=discovery)
        healths = {**self._health, source: after}
        snapshot = self._build(healths)
        # One reference: a reader sees the new snapshot and its readiness, or neither.
        self._published = self._publication(snapshot, healths)
        self._health = healths

    def _build(self, healths: Mapping[str, SourceHealth]) -> Snapshot:
        state = self._state
        # Outcome families (50,000 series in the benchmarks) change by each batch's change
        # (complete_poll), and are built whole only at start and after a reload.
        if self._outcomes is None:
            self._outcomes = OutcomeTables(self._plan, self._with_source, self._info)
            self._outcomes.add(state.series.items())
        dynamic = self_families(
            state,
            dict(healths),
            self._max_series,
            self._clock(),
            self._rejections,
            plan=self._plan,
        )
        disagreements = disagreement_family(state, self._with_source)
        reload = reload_families(*self._reload)
        outcomes = self._outcomes.families()
        role = self._role.families() if self._role is not None else ()
        return Snapshot((*outcomes, disagreements, *self._static, *dynamic, *reload, *role))


# At most this many unreadable paths are named per source (a volume of 10,000 files mounted
# without read access would otherwise make /readyz megabytes long).
_UNREADABLE_NAMED = 5


def _cannot_read(unreadable: Sequence[str]) -> str:
    named = "; ".join(unreadable[:_UNREADABLE_NAMED])
    more = len(unreadable) - _UNREADABLE_NAMED
    return f"cannot read {named}" + (f" (and {more} more)" if more > 0 else "")


def poll_loop(
    source: Source,
    interval: float,
    exporter: Exporter,
    stop: threading.Event,
    revoked: threading.Event | None = None,
) -> None:
    """Poll `source` until `stop` is set: every `interval`, right away while not caught up,
    with backoff after failures. Never raises: an unexpected error is a failed poll."""
    backoff = Backoff(cap=max(MAX_BACKOFF_SECONDS, interval))
    while not stop.is_set():
        started = time.monotonic()
        wait = poll_once(source, exporter, backoff, started, revoked)
        if wait is None:
            wait = max(0.0, interval - (time.monotonic() - started))
        if wait:
            stop.wait(wait)


def poll_once(
    source: Source,
    exporter: Exporter,
    backoff: Backoff,
    started: float,
    revoked: threading.Event | None = None,
) -> float | None:
    """One poll. Returns how long to wait before the next: None for the regular interval,
    0 to poll again at once (not caught up), or a backoff delay after a failure."""
    name = source.name
    reason, message, retry_after, keep = "", "", None, None
    discovery: DiscoveryReport | None = None
    # One record per failed poll (the `poll failed` line), however it failed: an unexpected
    # error's traceback and a checkpoint failure go into it, at ERROR, not into a line of their
    # own (which logged each failure twice).
    unexpected: Exception | None = None
    try:
        batch = source.fetch(exporter.cursor(name))
    except SourceError as exc:
        reason, message, retry_after, keep = exc.reason, str(exc), exc.retry_after, exc.cursor
        discovery = exc.discovery
    except Exception as exc:
        reason, message, unexpected = DaemonQueryError.INTERNAL.value, repr(exc), exc
    else:
        try:
            exporter.complete_poll(name, batch, time.monotonic() - started, revoked)
        except OSError as exc:  # persisting the checkpoint failed: nothing was applied
            reason = DaemonQueryError.CHECKPOINT_WRITE.value
            message = (
                "could not persist the checkpoint; the batch is not counted and is read "
                f"again: {exc}"
            )
        except Exception as exc:  # nothing was applied either; escaping would end the thread
            reason, message, unexpected = DaemonQueryError.INTERNAL.value, repr(exc), exc
        else:
            backoff.reset()
            log.debug(
                "polled",
                extra={
                    "source": name,
                    # Distinct observations per table, by table name.
                    "observations": {t.name: len(o) for t, o in batch.observations.items()},
                    "caught_up": batch.caught_up,
                },
            )
            return None if batch.caught_up else 0.0
    delay = backoff.next_delay(retry_after)
    quoted = exporter.fail_poll(
        name,
        reason,
        message,
        time.monotonic() - started,
        revoked=revoked,
        cursor=keep,
        discovery=discovery,
    )
    serious = unexpected is not None or reason == DaemonQueryError.CHECKPOINT_WRITE.value
    log.log(
        logging.ERROR if serious else logging.WARNING,
        "poll failed",
        extra={
            "source": name,
            "reason": reason,
            # As /readyz says it: bounded, whatever a server answered.
            "error": quoted.removeprefix(f"{reason}: "),
            "retry_in": round(delay, 3),
        },
        exc_info=unexpected,
    )
    return delay


class Pusher(Protocol):
    def start(self) -> None: ...
    def shutdown(self) -> None: ...


class Poller:
    """One source's poll thread, with its own stop event so a reload can retire it alone.

    The thread closes its source when its loop ends. A poll stuck past the grace period is
    abandoned instead (a daemon thread): closing a source mid-fetch can block (the Log Analytics
    client waits for its queries), and the process must exit within the grace."""

    def __init__(
        self,
        source: Source,
        interval: float,
        exporter: Exporter,
        stop: threading.Event | None = None,
    ) -> None:
        self.source = source
        self.interval = interval
        self._exporter = exporter
        # The source may watch it too (files: a parse ends early), at shutdown and retirement.
        self.stop = stop or threading.Event()
        self.revoked = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"poll-{source.name}", daemon=True)

    @property
    def name(self) -> str:
        return self.source.name

    def start(self) -> None:
        self.thread.start()

    def retire(self) -> None:
        """Stop at once for a successor (reload): a poll in flight is discarded, not counted;
        its successor reads the same records again from the unchanged cursor."""
        self.stop.set()
        self._exporter.revoke(self.revoked)

    def _run(self) -> None:
        try:
            poll_loop(self.source, self.interval, self._exporter, self.stop, self.revoked)
        finally:
            try:
                self.source.close()
            except Exception:
                log.exception("closing a source failed", extra={"source": self.source.name})


class StopSignal:
    """SIGTERM / SIGINT set `event`, which the main thread waits on; a second one sets `hurry`
    (stop waiting for running polls; the final save still happens). SIGHUP sets `reload`.

    The handlers only set events: they run between two bytecodes of the main thread, which
    may hold the logging or state lock at that moment."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.hurry = threading.Event()
        self.reload = threading.Event()
        self.received: str | None = None

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)
        signal.signal(signal.SIGHUP, self._handle_hup)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            self.hurry.set()
            return
        self.received = signal.Signals(signum).name
        self.event.set()

    def _handle_hup(self, signum: int, frame: FrameType | None) -> None:
        self.reload.set()


# How often the main thread looks for a reload request while it waits for a stop.
RELOAD_CHECK_SECONDS = 0.2


def run_until_stopped(
    *,
    exporter: Exporter,
    sources: Sequence[tuple[Source, float] | tuple[Source, float, threading.Event]],
    server: Any,
    pusher: Pusher | None,
    stop: threading.Event,
    hurry: threading.Event | None = None,
    reload_requested: threading.Event | None = None,
    reload: Callable[[Pollers], None] | None = None,
    grace: float | None = None,
) -> list[str]:
    """Start the pollers, the HTTP server and the pusher; on `reload_requested`, call `reload`;
    on `stop`, shut down in order within `grace` seconds. Returns the names of the sources
    whose poll was abandoned (still running at the end of the grace period). A source may come
    with the event it watches to cut a fetch short; its poller sets it to stop."""
    pollers = Pollers(exporter)
    server.start()
    if pusher is not None:
        pusher.start()
    for source, interval, *its_stop in sources:
        if stop.is_set():  # stopped during start-up: no poll to start and abandon
            source.close()
        else:
            pollers.add(source, interval, *its_stop)
    grace = SHUTDOWN_GRACE_SECONDS if grace is None else grace
    started = time.monotonic()
    abandoned: list[str] = []
    try:
        while not stop.wait(RELOAD_CHECK_SECONDS if reload_requested is not None else None):
            if reload_requested is not None and reload_requested.is_set():
                reload_requested.clear()
                _reload_guarded(exporter, pollers, reload)
        started = time.monotonic()
        log.info("shutting down", extra={"grace_seconds": grace})
        reserve = min(SHUTDOWN_RESERVE_SECONDS, grace / 2)
        abandoned = pollers.stop_all(started + grace - reserve, hurry or threading.Event())
    finally:
        # Whatever happened above, the final save runs: it is what a restart continues from.
        exporter.close(timeout=max(0.1, started + grace - time.monotonic()))
        if pusher is not None:
            # The final OTLP push may take otlp.timeout (10 s) against a silent collector.
            _within(pusher.shutdown, started + grace - time.monotonic(), "the final OTLP push")
        for step in (server.shutdown, server.server_close):
            try:
                step()
            except Exception:
                log.exception("shutdown step failed", extra={"step": step.__qualname__})
    return abandoned


def _within(step: Callable[[], None], seconds: float, what: str) -> None:
    """Run `step` for at most `seconds` (at least a little); past that, go on without it (it
    runs on in a daemon thread, ended with the process)."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            step()
        except Exception as exc:
            failed.append(exc)

    thread = threading.Thread(target=run, name="shutdown-step", daemon=True)
    thread.start()
    thread.join(max(0.5, seconds))
    if thread.is_alive():
        log.warning(
            "shutdown step did not finish within the grace period; exiting without it",
            extra={"step": what},
        )
    elif failed:
        log.error("shutdown step failed", extra={"step": what, "error": repr(failed[0])})


def _reload_guarded(
    exporter: Exporter, pollers: Pollers, reload: Callable[[Pollers], None] | None
) -> None:
    """A reload that fails unexpectedly is a failed reload, never the end of the process."""
    if reload is None:
        log.warning("SIGHUP ignored: no way to re-read the configuration was given")
        return
    try:
        reload(pollers)
    except Exception:
        log.exception("configuration reload failed unexpectedly; the running pollers go on")
        exporter.record_reload(False)


class Pollers:
    """The running pollers by source name; a reload adds, retires and replaces them."""

    def __init__(self, exporter: Exporter) -> None:
        self._exporter = exporter
        self._running: dict[str, Poller] = {}

    def names(self) -> list[str]:
        return list(self._running)

    def get(self, name: str) -> Poller | None:
        return self._running.get(name)

    def add(self, source: Source, interval: float, stop: threading.Event | None = None) -> None:
        poller = Poller(source, interval, self._exporter, stop)
        self._running[source.name] = poller
        poller.start()

    def retire(self, name: str) -> None:
        poller = self._running.pop(name, None)
        if poller is not None:
            poller.retire()

    def stop_all(self, deadline: float, hurry: threading.Event) -> list[str]:
        """Let each poll in flight finish (and count) until `deadline` or `hurry`; returns the
        sources whose poll is abandoned. Their batch is not counted: the next start reads it."""
        for poller in self._running.values():
            poller.stop.set()
        for poller in self._running.values():
            while poller.thread.is_alive() and not hurry.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                poller.thread.join(min(remaining, RELOAD_CHECK_SECONDS))
        abandoned = [p.name for p in self._running.values() if p.thread.is_alive()]
        for name in abandoned:
            log.warning(
                "abandoning a poll still running at the end of the shutdown grace period; "
                "its batch is not counted and is read again at the next start",
                extra={"source": name, "poll_thread": f"poll-{name}"},
            )
        return abandoned
