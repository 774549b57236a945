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
from types import FrameType
from typing import Any, Protocol

from acs_exporter.aggregate import LabelPlan, Resolver, summarise
from acs_exporter.backoff import Backoff
from acs_exporter.catalog import Catalog
from acs_exporter.checkpoint import Checkpoint
from acs_exporter.end_reason_info import EndReasonInfo
from acs_exporter.families import (
    SourceHealth,
    build_info_family,
    catalog_info_family,
    outcome_families,
    self_families,
)
from acs_exporter.reasons import KnownReasons
from acs_exporter.snapshot import Family, Snapshot
from acs_exporter.sources.base import Batch, Cursor, Source, SourceError
from acs_exporter.state import State, StateKey

log = logging.getLogger("acs_exporter.daemon")

MAX_BACKOFF_SECONDS = 300.0
SHUTDOWN_GRACE_SECONDS = 10.0


class Exporter:
    """Owns the cumulative state and the published snapshot."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        source_names: Sequence[str],
        plan: LabelPlan = LabelPlan(),  # noqa: B008 (immutable)
        max_series: int = 2000,
        checkpoint: Checkpoint | None = None,
        clock: Callable[[], float] = time.time,
        known_reasons: Mapping[str, KnownReasons] | None = None,
    ) -> None:
        self._plan = plan
        self._max_series = max_series
        self._checkpoint = checkpoint
        self._clock = clock
        self._resolver = Resolver(catalog)
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
        self._info = EndReasonInfo(catalog)
        self._static = (build_info_family(),)
        self._outcomes: tuple[Mapping[StateKey, int], tuple[Family, ...]] | None = None
        self._snapshot = self._build()

    # --- read side (any thread, lock-free: one reference read) ---

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def cursor(self, source: str) -> Cursor:
        return self._state.cursors.get(source)

    @property
    def state(self) -> State:
        return self._state

    def readiness(self) -> list[str]:
        problems = []
        for name, health in sorted(self._health.items()):
            if health.last_success is None:
                error = self._errors.get(name)
                problems.append(
                    f"source {name}: last poll failed: {error}"
                    if error
                    else f"source {name}: no successful poll yet"
                )
        return problems

    # --- write side (source threads) ---

    def complete_poll(self, source: str, batch: Batch, duration: float) -> None:
        """Apply a fetched batch: persist, then publish. Raises OSError if persisting fails
        (nothing is applied then: the same cursor is fetched again)."""
        delta = summarise(batch, self._resolver, self._plan)
        with self._lock:
            if self._closed:
                return  # shutting down: the batch is abandoned, its cursor not advanced
            state = self._state.apply(source, delta, batch.cursor, self._max_series)
            changed = not delta.is_empty() or (
                batch.cursor is not None and batch.cursor != self._state.cursors.get(source)
            )
            if self._checkpoint is not None and changed:
                self._checkpoint.save(state)
            if state.folded > self._state.folded and not self._warned_fold:
                self._warned_fold = True  # once per process: the counter tracks the rest
                log.warning(
                    "cardinality guard reached: new series are counted as code=other, "
                    "subcode=other (category kept); raise metrics.max_series to see them",
                    extra={"source": source, "max_series": self._max_series},
                )
            self._state = state
            watermark = batch.watermark.timestamp() if batch.watermark else None
            self._record(source, True, duration, None, watermark)
            self._errors.pop(source, None)

    def fail_poll(self, source: str, reason: str, message: str, duration: float) -> None:
        with self._lock:
            self._record(source, False, duration, reason, None)
            self._errors[source] = f"{reason}: {message}"

    def close(self) -> None:
        """Stop accepting batches and persist the final state."""
        with self._lock:
            self._closed = True
            if self._checkpoint is None:
                return
            try:
                self._checkpoint.save(self._state)
            except OSError as exc:
                # Every applied batch was already saved; this last write only refreshes it.
                log.error("final checkpoint write failed", extra={"error": str(exc)})
            self._checkpoint.unlock()

    def _record(
        self, source: str, ok: bool, duration: float, reason: str | None, watermark: float | None
    ) -> None:
        now = self._clock()
        health = self._health.get(source, SourceHealth())
        self._health[source] = health.after_poll(ok, duration, now, reason, watermark)
        self._snapshot = self._build()

    def _build(self) -> Snapshot:
        state = self._state
        # Outcome families (10,000 series in the benchmarks) are rebuilt only when counts change.
        if self._outcomes is None or self._outcomes[0] is not state.series:
            families = outcome_families(state, self._plan, self._with_source)
            # acs_end_reason_info follows the observed pairs, so every series has its row.
            families = (*families, catalog_info_family(self._info, state))
            self._outcomes = (state.series, families)
        dynamic = self_families(
            state, dict(self._health), self._max_series, self._clock(), self._rejections
        )
        return Snapshot((*self._outcomes[1], *self._static, *dynamic))


def poll_loop(source: Source, interval: float, exporter: Exporter, stop: threading.Event) -> None:
    """Poll `source` until `stop` is set: every `interval`, right away while not caught up,
    with backoff after failures. Never raises: an unexpected error is a failed poll."""
    backoff = Backoff(cap=max(MAX_BACKOFF_SECONDS, interval))
    while not stop.is_set():
        started = time.monotonic()
        wait = poll_once(source, exporter, backoff, started)
        if wait is None:
            wait = max(0.0, interval - (time.monotonic() - started))
        if wait:
            stop.wait(wait)


def poll_once(source: Source, exporter: Exporter, backoff: Backoff, started: float) -> float | None:
    """One poll. Returns how long to wait before the next: None for the regular interval,
    0 to poll again at once (not caught up), or a backoff delay after a failure."""
    name = source.name
    reason, message, retry_after = "", "", None
    try:
        batch = source.fetch(exporter.cursor(name))
    except SourceError as exc:
        reason, message, retry_after = exc.reason, str(exc), exc.retry_after
    except Exception as exc:
        log.exception("unexpected error in poll", extra={"source": name})
        reason, message = "internal", repr(exc)
    else:
        try:
            exporter.complete_poll(name, batch, time.monotonic() - started)
        except OSError as exc:  # persisting the checkpoint failed: nothing was applied
            log.error(
                "could not persist the checkpoint; the batch is not counted and is read again",
                extra={"source": name, "error": str(exc)},
            )
            reason, message = "checkpoint_write", str(exc)
        except Exception as exc:  # nothing was applied either; escaping would end the thread
            log.exception("unexpected error applying a batch", extra={"source": name})
            reason, message = "internal", repr(exc)
        else:
            backoff.reset()
            log.debug(
                "polled",
                extra={
                    "source": name,
                    "call_ends": len(batch.call_ends),
                    "media_results": len(batch.media_results),
                    "caught_up": batch.caught_up,
                },
            )
            return None if batch.caught_up else 0.0
    delay = backoff.next_delay(retry_after)
    exporter.fail_poll(name, reason, message, time.monotonic() - started)
    log.warning(
        "poll failed",
        extra={"source": name, "reason": reason, "error": message, "retry_in": round(delay, 3)},
    )
    return delay


class Pusher(Protocol):
    def start(self) -> None: ...
    def shutdown(self) -> None: ...


class StopSignal:
    """SIGTERM / SIGINT set an event the main thread waits on; a second signal exits now."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.received: str | None = None

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            raise SystemExit(1)
        self.received = signal.Signals(signum).name
        self.event.set()


def run_until_stopped(
    *,
    exporter: Exporter,
    sources: Sequence[tuple[Source, float]],
    server: Any,
    pusher: Pusher | None,
    stop: threading.Event,
) -> None:
    """Start the pollers, the HTTP server and the pusher; on `stop`, shut down in order."""
    threads = [
        threading.Thread(
            target=poll_loop,
            args=(source, interval, exporter, stop),
            name=f"poll-{source.name}",
            daemon=True,  # a fetch stuck past the grace period must not block exit
        )
        for source, interval in sources
    ]
    server.start()
    if pusher is not None:
        pusher.start()
    for thread in threads:
        thread.start()
    stop.wait()
    log.info("shutting down")
    deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            log.warning("abandoning a poll still running", extra={"thread": thread.name})
    exporter.close()  # later batches are refused, so the saved state is final
    for source, _ in sources:
        try:
            source.close()
        except Exception:
            log.exception("closing a source failed", extra={"source": source.name})
    if pusher is not None:
        pusher.shutdown()
    server.shutdown()
    server.server_close()
