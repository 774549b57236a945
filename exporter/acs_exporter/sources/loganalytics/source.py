"""LogAnalyticsSource: incremental, exactly-once reads of ACS call logs from Log Analytics.

Each fetch reads, for every (table, target), the ingestion-time window `(cursor, now - lag]`,
capped at `max_window` so catching up after downtime happens in bounded steps (the batch then
says `caught_up=False` and the daemon polls again right away). All queries of a fetch succeed
or the fetch raises SourceError and nothing is counted; the cursor never moves past a partial,
truncated or failed result. A truncated result halves its window until it fits.

Cursor: see cursor.py (one exclusive watermark per table and target: the latest ingestion time
read, or when the window was empty its end, but not past the service's clock minus the lag:
`empty_window_watermark`).

A table or target without a position starts at `now - safety_lag - initial_lookback`, planned
once: a failed fetch hands that start back (`SourceError.cursor`) for the daemon to keep, so
failed polls (a role not yet granted, a table not yet readable) never slide it forward.

Every fetch asks the service, even for an empty window: a fetch that returns has been answered,
which is what makes a successful poll (and so readiness) mean the service was reached.
"""

from __future__ import annotations

import logging
import operator
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from azure.core.credentials import TokenCredential

from acs_exporter.definitions import tables
from acs_exporter.definitions.tables import LabelPlan, LogTable
from acs_exporter.inputs.redact import shorten_repr
from acs_exporter.sources.base import Batch, Cursor, Observation, SourceError
from acs_exporter.sources.loganalytics import errors
from acs_exporter.sources.loganalytics.client import (
    MAX_CONCURRENT_QUERIES,
    RESOURCE_PREFIX,
    QueryRunner,
    Target,
    resource_key,
)
from acs_exporter.sources.loganalytics.cursor import Positions, dump_cursor, load_cursor
from acs_exporter.sources.loganalytics.gcpause import gc_paused
from acs_exporter.sources.loganalytics.kql import QuerySpec, Window, timespan
from acs_exporter.sources.loganalytics.reasons import QueryError
from acs_exporter.sources.loganalytics.response import ResultTable
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from acs_exporter.sources.loganalytics.timestamps import (
    TICKS_PER_SECOND,
    InvalidTimestamp,
    datetime_from_ticks,
    format_ticks,
    parse_ticks,
    span,
    ticks_from_datetime,
    ticks_from_timedelta,
)

log = logging.getLogger(__name__)

# A window is not split below this: a second of ACS logs over the row limit is not plausible.
MIN_SPLIT_TICKS = TICKS_PER_SECOND
# A `Date` header further behind the exporter's clock than this is not the service's clock
# (a proxy's default, garbage): an empty window then reads to its end, as without one.
MAX_CLOCK_SKEW = ticks_from_timedelta(timedelta(days=1))
# Beyond this (more than the header's whole seconds and a slow answer), the skew is logged.
NOTABLE_SKEW = 10 * TICKS_PER_SECOND
WORKSPACE_PREFIX = "workspace:"  # cursor keys of the (single) workspace query

_default_credential_lock = threading.Lock()
_default_credential: TokenCredential | None = None


def default_credential() -> TokenCredential:
    """One DefaultAzureCredential per process: shared token cache and query slots.

    On Kubernetes with workload identity the chain picks WorkloadIdentityCredential (the
    environment credential only applies when a client secret or certificate is configured).
    """
    global _default_credential  # noqa: PLW0603 - one per process, on first use
    with _default_credential_lock:
        if _default_credential is None:
            from azure.identity import DefaultAzureCredential

            _default_credential = DefaultAzureCredential()
        return _default_credential


@dataclass
class Job:
    table_spec: QuerySpec
    target: Target
    window: Window
    planned: bool = False  # no saved position: the window starts at the first start


@dataclass
class JobResult:
    observations: list[Observation] = field(default_factory=list)
    records: int = 0
    watermark: int = 0  # ticks: the new exclusive cursor
    complete: bool = True  # the whole planned window was read
    service_time: int | None = None  # ticks: the answer's Date header (client.Answer)


class LogAnalyticsSource:
    def __init__(
        self,
        settings: LogAnalyticsSettings,
        *,
        credential: TokenCredential | None = None,
        clock: Callable[[], datetime] | None = None,
        plan: LabelPlan = LabelPlan(),  # noqa: B008 (immutable)
    ) -> None:
        self.settings = settings
        self.plan = plan
        self._clock = clock or (lambda: datetime.now(UTC))
        self._credential = credential if credential is not None else default_credential()
        verify: str | bool = str(settings.tls_ca_file) if settings.tls_ca_file else True
        self._runner = QueryRunner(
            self._credential,
            endpoint=settings.endpoint,
            audience=settings.audience,
            server_timeout=settings.effective_server_timeout(),
            connection_verify=verify,
        )
        self._skew_logged = False
        # How far this machine's clock runs ahead of the service's, as the last answers' Date
        # headers said (0 until then, or when within NOTABLE_SKEW): the windows end by the
        # service's clock, so a skew does not eat into safety_lag.
        self._ahead = 0
        self.targets = targets_for(settings)
        self.specs = specs_for(settings, plan)
        jobs = len(self.specs) * len(self.targets)
        self._pool = ThreadPoolExecutor(
            max_workers=min(MAX_CONCURRENT_QUERIES, jobs), thread_name_prefix=f"{settings.name}-q"
        )

    @property
    def name(self) -> str:
        return self.settings.name

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._runner.client.close()

    # --- fetching ---------------------------------------------------------------------------

    def fetch(self, cursor: Cursor) -> Batch:
        # One reading of the clock: the windows end at `end`, and reaching it is caught up.
        # By the service's clock, as far as its last answers said it.
        local = self._clock()
        now = local - timedelta(microseconds=self._ahead // 10)
        jobs = plan_jobs(self.settings, cursor, now, self.plan)
        end = window_end(self.settings, now)
        started = time.monotonic()
        futures = [self._pool.submit(self._run, job) for job in jobs]
        results: list[JobResult] = []
        failures: list[SourceError] = []
        for future in futures:
            try:
                results.append(future.result())
            except SourceError as error:
                failures.append(error)
        positions = load_cursor(cursor)
        if failures:
            failed = combine(failures)
            failed.cursor = keep_planned_starts(positions, jobs)
            raise failed

        observations: dict[LogTable, list[Observation]] = {}
        caught_up = True
        records = 0
        for job, result in zip(jobs, results, strict=True):
            table = job.table_spec.table
            table_positions = positions.setdefault(table.name, {})
            # A position saved under another key of this target (an earlier workspace list, a
            # resource id spelled otherwise) was carried over to this one and must not linger.
            for key in other_keys(table_positions, job.target):
                del table_positions[key]
            table_positions[job.target.key] = format_ticks(result.watermark)
            observations.setdefault(table, []).extend(result.observations)
            records += result.records
            if not result.complete or job.window.end < end:
                caught_up = False
        self._ahead = clock_ahead(local, results)
        self._note_skew(self._ahead)
        oldest = min(result.watermark for result in results)
        if not caught_up or records:
            log.info(
                "%s: read %d records in %.2fs; cursor at %s%s",
                self.name,
                records,
                time.monotonic() - started,
                format_ticks(oldest),
                "" if caught_up else " (catching up)",
            )
        return Batch(
            observations=observations,
            cursor=dump_cursor(positions),
            watermark=datetime_from_ticks(oldest),
            caught_up=caught_up,
        )

    def _run(self, job: Job) -> JobResult:
        result, window, complete = self._read(job)
        if result.watermark == 0:
            # Empty window: read up to its end, or as far as the service's clock allows. (A row
            # outside the window is refused in _observations, so the latest read is in it.)
            result.watermark = empty_window_watermark(
                self.settings, job, window, result.service_time
            )
        result.complete = complete
        return result

    def _note_skew(self, ahead: int) -> None:
        if ahead and not self._skew_logged:
            self._skew_logged = True  # once per source: it holds for every poll until fixed
            log.warning(
                "%s: this machine's clock is %.0fs ahead of the service's (the Date header of "
                "its answers); the windows end by the service's clock minus safety_lag, so "
                "nothing is lost, but fix the clock (NTP): the first poll after a start or a "
                "clock step still goes by this one (docs/loganalytics.md)",
                self.name,
                ahead / TICKS_PER_SECOND,
            )

    def _read(self, job: Job) -> tuple[JobResult, Window, bool]:
        """The counts of the job's window, or of its first part when the result was over the
        service's limit: (counts, window read, whether it is the whole planned window)."""
        # An empty window (the first poll with no initial_lookback, a clock that stepped back)
        # is sent too: the service's answer is what a successful poll stands for.
        window = job.window
        complete = True
        while True:
            kql = job.table_spec.render(window, lookback=self.settings.time_generated_lookback)
            span = timespan(window, lookback=self.settings.time_generated_lookback)
            try:
                answer = self._runner.query(job.target, kql, span)
                # Counted inside the `try`: a large result's rows are parsed (and its row limit
                # known) only as they are counted. The collector is paused for that, not while
                # the query waits: see gcpause.py.
                with gc_paused():
                    result = self._observations(job, answer.table, window)
                result.service_time = answer.service_time
                return result, window, complete
            except errors.Truncated as truncated:
                if window.end - window.start <= MIN_SPLIT_TICKS:
                    raise SourceError(
                        QueryError.TRUNCATED,
                        f"{job.target.describe()}: {job.table_spec.table} window {window} is "
                        f"still over the service's result limit: {truncated}",
                    ) from truncated
                window = window.split()[0]
                complete = False
                log.info(
                    "%s: %s result over the service limit; splitting to %s",
                    self.name,
                    job.table_spec.table,
                    window,
                )

    def _observations(self, job: Job, table: ResultTable, window: Window) -> JobResult:
        """The counts of one answer for `window`; SourceError if any of it is wrong, before
        anything is counted (the caller counts the result only once it returns)."""
        spec, target = job.table_spec, job.target
        result = JobResult()
        if not table.rows and table.streamed is None:
            return result
        expected = spec.result_columns()
        try:
            index = [table.columns.index(name) for name in expected]
        except ValueError as error:
            raise SourceError(
                QueryError.BAD_QUERY,
                f"{target.describe()}: result columns {table.columns} lack one of {expected}",
            ) from error
        counts: Counter[tuple[object, ...]] = Counter()
        first = 0  # the number of the piece's first row in the whole result
        for rows in table.pieces():
            seen = _ingested_span(target, spec, rows, index[-1], first)
            if seen is not None:
                if seen[0] <= window.start or seen[1] > window.end:
                    raise _outside(target, spec, rows, index[-1], first, window=window)
                result.watermark = max(result.watermark, seen[1])
            if spec.mode == "aggregated":
                result.records += self._aggregated_rows(
                    spec, target, rows, index=index, first=first, result=result
                )
            else:
                counts.update(_raw_keys(target, spec, rows, index[:-1], first))
                result.records += len(rows)
            first += len(rows)
            del rows  # before the next piece is parsed: one piece alive at a time (pieces.py)
        dims = spec.dimension_labels
        result.observations.extend(
            self._observation(spec, list(key), dims, n) for key, n in counts.items()
        )
        return result

    def _aggregated_rows(
        self,
        spec: QuerySpec,
        target: Target,
        rows: list[list[object]],
        *,
        index: list[int],
        first: int,
        result: JobResult,
    ) -> int:
        """One observation per row (the query grouped them); returns the records counted."""
        dims = spec.dimension_labels
        key_index = index[:-2]
        count_index = index[-2]
        records = 0
        for row_number, row in enumerate(rows, start=first):
            n = _count(row[count_index])
            if isinstance(n, str):
                raise _bad_cell(target, spec, row_number, "n", n)
            key = [row[i] for i in key_index]
            result.observations.append(self._observation(spec, key, dims, n))
            records += n
        return records

    @staticmethod
    def _observation(
        spec: QuerySpec, key: list[object], dims: tuple[str, ...], n: int
    ) -> Observation:
        if spec.has_category:
            code, subcode, category, *labels = key
            service_category = category if isinstance(category, str) and category else None
        else:
            code, subcode, *labels = key
            service_category = None
        dimensions = tuple(
            (name, rule(value) if rule else "" if value is None else str(value))
            for name, value, rule in zip(dims, labels, spec.reader_rules, strict=True)
        )
        return Observation(code, subcode, service_category, dimensions, n)


def _count(cell: object) -> int | str:
    """A `count()` cell as the number of records it stands for, or what is wrong with it.

    Only a JSON integer (or a float with nothing after the point) of at least 1: `int()` would
    truncate 2.9 to 2, read `true` as 1 (a bool is an int) and "7" as 7, so the counts would
    hold what the service never said; a group of `summarize ... count()` has at least 1 row.
    """
    if type(cell) is float and cell.is_integer():
        cell = int(cell)
    if type(cell) is not int:
        return f"expected a whole number, got {shorten_repr(cell)}"
    if cell < 1:
        return f"expected a count of at least 1, got {cell}"
    return cell


def _bad_cell(target: Target, spec: QuerySpec, row: int, column: str, what: str) -> SourceError:
    return SourceError(
        QueryError.SERVER_ERROR,
        f"{target.describe()}: malformed response: {spec.table} tables[0].rows[{row}]: "
        f"column {column}: {what}; nothing was counted (will retry)",
    )


def _ingested_span(
    target: Target, spec: QuerySpec, rows: list[list[object]], column: int, first: int
) -> tuple[int, int] | None:
    """The earliest and latest ingestion time of a piece's rows (ticks), None for no rows."""
    try:
        return span([row[column] for row in rows])  # type: ignore[misc]
    except (InvalidTimestamp, TypeError, AttributeError):
        raise _bad_timestamp(target, spec, rows, column, first) from None


def _outside(
    target: Target,
    spec: QuerySpec,
    rows: list[list[object]],
    column: int,
    first: int,
    *,
    window: Window,
) -> SourceError:
    """Names the first row whose ingestion time is not in the window the query asked for.

    Such an answer is wrong, and counting it breaks exactly once: a row at or before the start
    was counted by the window before; one past the end would be counted again by the next
    window. (In aggregated mode the cell is the group's latest ingestion time.)"""
    name = spec.result_columns()[-1]
    for number, row in enumerate(rows, start=first):
        value = row[column]
        try:
            ticks = parse_ticks(value)  # type: ignore[arg-type]
        except InvalidTimestamp as error:  # only the earliest and latest were read so far
            return _bad_cell(target, spec, number, name, str(error))
        if not window.start < ticks <= window.end:
            return _bad_cell(
                target, spec, number, name, f"{value} is outside the window {window} asked for"
            )
    return _bad_cell(target, spec, 0, name, "outside the window")  # not reached


def _raw_keys(
    target: Target, spec: QuerySpec, rows: list[list[object]], key_index: list[int], first: int
) -> Counter[tuple[object, ...]]:
    """The rows counted by key (code, subcode, category, dimensions)."""
    try:
        if key_index == list(range(len(key_index))):
            # The common case (our own column order): slicing in C, counting in C.
            return Counter(map(tuple, map(operator.itemgetter(slice(0, len(key_index))), rows)))
        getter = operator.itemgetter(*key_index)
        return Counter(getter(row) for row in rows)
    except TypeError:  # a cell that is a list or an object: not a label value
        raise _unhashable_cell(target, spec, rows, key_index, first) from None


def _bad_timestamp(
    target: Target, spec: QuerySpec, rows: list[list[object]], column: int, first: int
) -> SourceError:
    """Names the first ingestion-time cell that is not a Kusto datetime."""
    name = spec.result_columns()[-1]
    for number, row in enumerate(rows, start=first):
        value = row[column]
        if not isinstance(value, str):
            return _bad_cell(
                target, spec, number, name, f"expected a datetime string, got {shorten_repr(value)}"
            )
        try:
            parse_ticks(value)
        except InvalidTimestamp as error:
            return _bad_cell(target, spec, number, name, str(error))
    return _bad_cell(target, spec, 0, name, "unreadable datetimes")  # not reached


def _unhashable_cell(
    target: Target, spec: QuerySpec, rows: list[list[object]], columns: list[int], first: int
) -> SourceError:
    names = spec.result_columns()
    for number, row in enumerate(rows, start=first):
        for position, column in enumerate(columns):
            value = row[column]
            if isinstance(value, list | dict):
                return _bad_cell(
                    target,
                    spec,
                    number,
                    names[position],
                    f"expected a value, got {shorten_repr(value)}",
                )
    return _bad_cell(target, spec, 0, names[0], "unreadable cells")  # not reached


def combine(failures: Sequence[SourceError]) -> SourceError:
    """One error for a failed fetch: the first, naming the others.

    Throttling without Retry-After gets no delay of its own here: the daemon's backoff
    (growing, capped, jittered) is the one schedule; only the server's Retry-After is passed
    on, as the lower bound it is.
    """
    first = failures[0]
    if len(failures) == 1:
        return first
    others = "; ".join(str(f) for f in failures[1:])
    return SourceError(
        first.reason,
        f"{first} (and {len(failures) - 1} more: {others})",
        retry_after=first.retry_after,
    )


def targets_for(settings: LogAnalyticsSettings) -> tuple[Target, ...]:
    targets = []
    if settings.workspace_ids:
        targets.append(Target.workspaces(settings.workspace_ids))
    targets.extend(Target.resource(r) for r in settings.resource_ids)
    return tuple(targets)


def specs_for(settings: LogAnalyticsSettings, plan: LabelPlan) -> tuple[QuerySpec, ...]:
    """One query per table, grouped by the opt-in labels the plan gives its family (plus any
    the source's own `extra_labels` adds), so the counts keep every label they are exposed by."""
    specs = []
    for name in settings.tables:
        table = tables.by_name(name)
        opt_in = {d.label for d in table.optional}
        wanted = {*plan.labels_for(table), *settings.extra_labels} & opt_in
        specs.append(QuerySpec(table, settings.mode, tuple(sorted(wanted))))
    return tuple(specs)


def window_end(settings: LogAnalyticsSettings, now: datetime) -> int:
    return ticks_from_datetime(now) - ticks_from_timedelta(settings.safety_lag)


def plan_jobs(
    settings: LogAnalyticsSettings,
    cursor: Cursor,
    now: datetime,
    plan: LabelPlan = LabelPlan(),  # noqa: B008 (immutable)
) -> list[Job]:
    """The windows a fetch at `now` reads from `cursor`, per table and target."""
    positions = load_cursor(cursor)
    end = window_end(settings, now)
    first_start = end - ticks_from_timedelta(settings.initial_lookback)
    span = ticks_from_timedelta(settings.max_window)
    jobs = []
    for spec in specs_for(settings, plan):
        for target in targets_for(settings):
            saved = saved_position(positions.get(spec.table.name, {}), target)
            start = parse_ticks(saved) if saved is not None else first_start
            # A clock that stepped back leaves the window empty rather than inverted.
            window = Window(start, max(start, min(end, start + span)))
            jobs.append(Job(spec, target, window, planned=saved is None))
    return jobs


def clock_ahead(local: datetime, results: Sequence[JobResult]) -> int:
    """Ticks by which `local` (this machine's clock when the fetch began) was ahead of the
    service's, by the earliest Date of the fetch's answers (each was written after `local`, so
    this errs small, by the answer's time and the header's whole seconds); 0 when that is
    within NOTABLE_SKEW, when no answer said, or when one said something absurd."""
    said = [r.service_time for r in results if r.service_time is not None]
    if not said:
        return 0
    ahead = ticks_from_datetime(local) - min(said)
    return ahead if NOTABLE_SKEW < ahead < MAX_CLOCK_SKEW else 0


def empty_window_watermark(
    settings: LogAnalyticsSettings, job: Job, window: Window, service_time: int | None
) -> int:
    """Where a window that came back empty leaves the cursor: its end, but not past the
    service's own clock (the answer's `Date`) minus safety_lag.

    The end is this machine's `now - safety_lag`; with a clock running ahead of the service's
    by more than the lag, it lies in the service's future, and a record ingested after this
    answer but before that end would never be read. `service_time` is whole seconds (at or
    before the service's clock), so the cap errs early: the next window asks again for part
    of this one, which held nothing. Never back before the window's start once a position was
    saved (what is at or before it may have been counted); a first window counted nothing.
    """
    if service_time is None:
        return window.end
    cap = service_time - ticks_from_timedelta(settings.safety_lag)
    if cap < window.end - MAX_CLOCK_SKEW:
        return window.end
    watermark = min(window.end, cap)
    return watermark if job.planned else max(window.start, watermark)


def keep_planned_starts(positions: Positions, jobs: Sequence[Job]) -> Cursor:
    """The cursor a failed fetch leaves: the saved positions plus the start planned for each
    table and target that had none. None when nothing was planned (nothing to keep)."""
    planned = [job for job in jobs if job.planned]
    if not planned:
        return None
    kept = {table: dict(targets) for table, targets in positions.items()}
    for job in planned:
        kept.setdefault(job.table_spec.table.name, {})[job.target.key] = format_ticks(
            job.window.start
        )
    return dump_cursor(kept)


def saved_position(positions: dict[str, str], target: Target) -> str | None:
    """Where `target` continues from, None on its first query.

    All `workspace_ids` share one query, keyed by the first of them; so when the list is edited
    (reordered, its first entry removed) the new key continues from the old one's position,
    rather than starting over (re-reading `initial_lookback`: counted twice); so does a resource
    id spelled otherwise. Several old keys (cursors written before stale ones were dropped):
    the latest, the last one queried.
    """
    saved = positions.get(target.key)
    if saved is not None:
        return saved
    earlier = [positions[key] for key in other_keys(positions, target)]
    return max(earlier, key=parse_ticks, default=None)


def other_keys(positions: dict[str, str], target: Target) -> list[str]:
    """The keys other than `target.key` under which `target`'s position may be saved: any
    workspace key for the workspace query (all `workspace_ids` share it); for a resource, its
    id spelled otherwise (ids are case-insensitive; cursors of earlier releases kept the id as
    configured)."""
    if target.key.startswith(WORKSPACE_PREFIX):
        return [k for k in positions if k.startswith(WORKSPACE_PREFIX) and k != target.key]
    return [
        k
        for k in positions
        if k != target.key
        and k.startswith(RESOURCE_PREFIX)
        and resource_key(k.removeprefix(RESOURCE_PREFIX)) == target.key
    ]
