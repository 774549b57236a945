"""AzureMetricsSource: exactly-once counts of ACS platform metrics, one minute at a time.

Each fetch reads, for every resource, the settled minutes `[cursor, end)`, where `end` is the
start of the minute that ended `settle_delay` ago (the service may still revise a younger
minute, and a counted minute is never read again). Resources are read 50 to a call per
subscription (the batch API's limit), one call per metric; all calls of a fetch succeed or the
fetch raises SourceError and nothing is counted, as in the Log Analytics source. Catching up is
bounded by `max_window` per call (`caught_up=False` until `end` is reached).

The resources are the listed `resource_ids` and, with `subscriptions`, those Azure Resource
Manager listed (resource_set.py, discovery.py); one no longer listed is no longer read, its
position kept. A resource without a position starts at `end - initial_lookback`, or, when it
appeared between two discoveries, at the earlier one; planned once: a failed fetch hands it back
(`SourceError.cursor`), so failed polls never slide it forward. Every fetch asks the service (at
least the last settled minute), so a successful poll means it was reached; with subscriptions,
nothing is read (the fetch fails) until each has been discovered once, unless resource_ids are
listed.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from azure.core.credentials import TokenCredential

from acs_exporter.definitions import tables
from acs_exporter.definitions.tables import LogTable
from acs_exporter.sources.azure_metrics.client import MetricQuery, MetricsCaller, default_credential
from acs_exporter.sources.azure_metrics.cursor import (
    Positions,
    dump_cursor,
    format_minute,
    load_cursor,
    resource_key,
)
from acs_exporter.sources.azure_metrics.discovery import ArmDiscovery
from acs_exporter.sources.azure_metrics.reasons import QueryError, Rejection
from acs_exporter.sources.azure_metrics.resource_set import ResourceSet
from acs_exporter.sources.azure_metrics.response import MetricAnswer, Series
from acs_exporter.sources.azure_metrics.settings import (
    MAX_RESOURCES_PER_CALL,
    MINUTE,
    AzureMetricsSettings,
    resource_name,
    subscription_of,
)
from acs_exporter.sources.base import Batch, Cursor, DiscoveryReport, Observation, SourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlatformMetric:
    """A platform metric, the table (family) it feeds and how its series become observations:
    `code` and `subcode` are dimension names (None: the metric has none), `labels` maps each
    label of the family (but `resource`) to its dimension."""

    query: MetricQuery
    table: LogTable
    code: str
    subcode: str | None
    labels: tuple[tuple[str, str], ...]


CALLBACK_EVENTS = PlatformMetric(
    MetricQuery("AcsCallAutomationCallbackEvent", ("EventTypeName", "Code", "SubCode")),
    tables.CALL_AUTOMATION_EVENTS,
    code="code",
    subcode="subcode",
    labels=(("event_type", "eventtypename"),),
)
API_REQUESTS = PlatformMetric(
    MetricQuery("APIRequestCallAutomation", ("Operation", "StatusCode", "StatusCodeClass")),
    tables.CALL_AUTOMATION_API_REQUESTS,
    code="statuscode",
    subcode=None,
    labels=(("operation", "operation"), ("status_class", "statuscodeclass")),
)
METRICS = (CALLBACK_EVENTS, API_REQUESTS)


@dataclass
class Counted:
    observations: dict[LogTable, list[Observation]] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)
    events: int = 0


def floor_minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


class AzureMetricsSource:
    def __init__(
        self,
        settings: AzureMetricsSettings,
        *,
        credential: TokenCredential | None = None,
        clock: Callable[[], datetime] | None = None,
        arm_timeout: float | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock or (lambda: datetime.now(UTC))
        verify: str | bool = str(settings.tls_ca_file) if settings.tls_ca_file else True
        credential = credential if credential is not None else default_credential()
        timeout = max(10.0, settings.poll_interval.total_seconds() * 0.75)
        self._caller = MetricsCaller(
            credential,
            endpoint=settings.effective_endpoint(),
            audience=settings.audience,
            connection_verify=verify,
            timeout=timeout,
        )
        self._discovery: ArmDiscovery | None = None
        if settings.subscriptions:  # azure-mgmt-communication is imported only then
            self._discovery = ArmDiscovery(
                credential,
                endpoint=settings.arm_endpoint,
                connection_verify=verify,
                timeout=arm_timeout or timeout,
            )
        self.resources = ResourceSet(
            settings.name,
            settings.resource_ids,
            settings.subscriptions,
            settings.discovery_interval,
            self._discovery.list_resources if self._discovery is not None else None,
        )
        self._listed = {resource_key(r) for r in settings.resource_ids}
        self._read: list[str] = []
        self.chunks: list[list[str]] = []

    @property
    def name(self) -> str:
        return self.settings.name

    def close(self) -> None:
        self._caller.close()
        if self._discovery is not None:
            self._discovery.close()

    def fetch(self, cursor: Cursor) -> Batch:
        now = self._clock()
        end = floor_minute(now - self.settings.settle_delay)
        saved = load_cursor(cursor)
        report = self._discover(now)
        starts = {resource_key(r): self._start(resource_key(r), saved, end) for r in self._read}
        counted = Counted()
        positions: Positions = dict(saved)
        try:
            for chunk in self.chunks:
                self._read_chunk(chunk, starts, end, counted, positions)
        except SourceError as error:
            # Only the planned starts of resources never read are kept: they carry no counts.
            error.cursor = dump_cursor({k: starts[k] for k in starts if k not in saved} | saved)
            error.discovery = report
            if error.reason == QueryError.RESOURCE_ERROR:
                self.resources.rediscover()  # a discovered resource may be gone
            raise
        # Resources no longer read (no longer discovered) keep their positions, not the lag.
        oldest = min((positions[k] for k in starts), default=end)
        if counted.events:
            log.info(
                "%s: read %d events; oldest resource at %s",
                self.name,
                counted.events,
                format_minute(oldest),
            )
        return Batch(
            observations=counted.observations,
            rejected=dict(counted.rejected),
            cursor=dump_cursor(positions),
            watermark=oldest,
            caught_up=oldest >= end,
            discovery=report,
        )

    def _discover(self, now: datetime) -> DiscoveryReport | None:
        """Discover what is due and settle what this fetch reads (`_read`, `chunks`). Raises
        SourceError while a subscription has never been discovered and no resource_ids are
        listed: there is nothing to read yet that is known to be complete."""
        failures = self.resources.refresh(now)
        report = self.resources.report(failures)
        if not self.resources.complete():
            error = SourceError(
                failures[0].reason if failures else QueryError.SERVER_ERROR,
                "; ".join(map(str, failures))
                + "; nothing is read until every subscription has been discovered once",
                retry_after=max((f.retry_after or 0.0 for f in failures), default=None) or None,
            )
            error.discovery = report
            raise error
        for failure in failures:  # logged once each; counted in the report
            log.warning(
                "ACS resource discovery failed; reading the resources found before",
                extra={"source": self.name, "reason": failure.reason, "error": str(failure)},
            )
        resources = self.resources.current()
        if resources != self._read:
            self._read, self.chunks = resources, chunks_of(resources)
        return report

    def _start(self, key: str, saved: Positions, end: datetime) -> datetime:
        """Where a resource's counting starts: its saved position; for one that appeared
        between two discoveries, the earlier one (nothing since its creation is missed, and
        initial_lookback does not apply); else initial_lookback before this fetch."""
        if key in saved:
            return saved[key]
        since = None if key in self._listed else self.resources.since(key)
        if since is not None:
            return min(end, floor_minute(since))
        return end - self.settings.initial_lookback

    def _read_chunk(
        self,
        chunk: Sequence[str],
        starts: dict[str, datetime],
        end: datetime,
        counted: Counted,
        positions: Positions,
    ) -> None:
        start = min(starts[resource_key(r)] for r in chunk)
        stop = min(end, start + self.settings.max_window)
        # Nothing new: ask for the last settled minute anyway (and count none of it), so that a
        # successful poll means the service answered.
        window = (start, stop) if start < stop else (stop - MINUTE, stop)
        answers = [
            (metric, self._caller.query(metric.query, chunk, window, self.settings.max_series))
            for metric in METRICS
        ]
        for resource in chunk:
            key = resource_key(resource)
            lower, upper = starts[key], max(starts[key], stop)
            for metric, by_resource in answers:
                self._count(metric, resource, by_resource[key], (lower, upper), counted)
            positions[key] = upper

    def _count(
        self,
        metric: PlatformMetric,
        resource: str,
        answer: MetricAnswer,
        window: tuple[datetime, datetime],
        counted: Counted,
    ) -> None:
        if len(answer.series) >= self.settings.max_series:
            raise SourceError(
                QueryError.TRUNCATED,
                f"{metric.query.name} of {resource}: {len(answer.series)} series, the call's "
                f"limit (max_series): some may be missing, so nothing was counted; raise "
                "max_series",
            )
        name = resource_name(resource)
        out = counted.observations.setdefault(metric.table, [])
        for series in answer.series:
            total, invalid = settled_total(series, window)
            if invalid:
                counted.rejected[Rejection.INVALID_VALUE] += invalid
                _warn(Rejection.INVALID_VALUE, metric, resource, series, f"{invalid} data point(s)")
            if not total:
                continue
            observation = _observation(metric, series, name, total)
            if observation is None:
                counted.rejected[Rejection.MISSING_DIMENSION] += total
                _warn(Rejection.MISSING_DIMENSION, metric, resource, series, f"{total} event(s)")
                continue
            out.append(observation)
            counted.events += total


def settled_total(series: Series, window: tuple[datetime, datetime]) -> tuple[int, int]:
    """(sum of the counts of the minutes in `window`, data points there that are not counts)."""
    total = invalid = 0
    lower, upper = window
    for point in series.points:
        if not lower <= point.minute < upper:
            continue  # counted before, or not settled yet: another fetch counts it
        count = point.count
        if count is None:
            continue  # a minute without data
        if (
            isinstance(count, bool)
            or not isinstance(count, int | float)
            or not math.isfinite(count)
            or count < 0
            or count != int(count)
        ):
            invalid += 1
            continue
        total += int(count)
    return total, invalid


def _observation(
    metric: PlatformMetric, series: Series, resource: str, n: int
) -> Observation | None:
    dims = series.dimensions
    wanted = (
        metric.code,
        *((metric.subcode,) if metric.subcode else ()),
        *(d for _, d in metric.labels),
    )
    if any(dims.get(d) is None for d in wanted):
        return None
    labels = sorted(((label, dims[d]) for label, d in metric.labels), key=lambda x: x[0])
    dimensions = tuple(sorted([*labels, ("resource", resource)]))
    subcode = dims[metric.subcode] if metric.subcode else None
    return Observation(dims[metric.code], subcode, None, dimensions, n)


def _warn(
    reason: Rejection, metric: PlatformMetric, resource: str, series: Series, what: str
) -> None:
    log.warning(
        "platform metric series rejected",
        extra={
            "reason": str(reason),
            "metric": metric.query.name,
            "resource": resource,
            "dimensions": dict(series.dimensions),
            "rejected": what,
        },
    )


def chunks_of(resource_ids: Iterable[str]) -> list[list[str]]:
    """Resources per call: one subscription each (the API's rule), at most 50."""
    by_subscription: dict[str, list[str]] = {}
    for resource in resource_ids:
        by_subscription.setdefault(subscription_of(resource), []).append(resource)
    return [
        group[i : i + MAX_RESOURCES_PER_CALL]
        for group in by_subscription.values()
        for i in range(0, len(group), MAX_RESOURCES_PER_CALL)
    ]
