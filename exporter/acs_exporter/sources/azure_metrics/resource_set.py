"""The ACS resources an azure_metrics fetch reads: the `resource_ids` listed, and the resources
Azure Resource Manager listed at the last successful discovery of each of `subscriptions`
(deduplicated, case-insensitive: a resource listed and discovered is read once).

Each subscription is discovered every `discovery_interval`. A failed discovery keeps the
subscription's last known resources; it is retried at the next poll while the subscription has
never been discovered, else after 1, 2, 4, ... minutes (at most `discovery_interval`, at least
what a Retry-After asked). A resource that is no longer listed is no longer read (its counts
and its saved position stay); one that appears between two discoveries is remembered with the
time of the earlier one, which did not list it (`since`): the source reads it from there, so
nothing it did since it was created is missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from acs_exporter.sources.azure_metrics.cursor import resource_key
from acs_exporter.sources.azure_metrics.discovery import Found
from acs_exporter.sources.azure_metrics.reasons import QueryError
from acs_exporter.sources.base import DiscoveryReport, SourceError

log = logging.getLogger(__name__)

# What a discovery can fail with: the reasons of acs_exporter_discovery_errors_total.
DISCOVERY_REASONS: tuple[str, ...] = tuple(
    map(
        str,
        (
            QueryError.AUTH,
            QueryError.THROTTLED,
            QueryError.SERVER_ERROR,
            QueryError.TIMEOUT,
            QueryError.CONNECTION,
            QueryError.BAD_QUERY,
        ),
    )
)
FIRST_RETRY = timedelta(minutes=1)


# subscription id -> its ACS resources (discovery.ArmDiscovery.list_resources); raises SourceError
Lister = Callable[[str], Sequence[Found]]


@dataclass
class _Subscription:
    resources: dict[str, str] | None = None  # key -> resource id; None: never discovered
    discovered_at: datetime | None = None  # the last successful discovery
    due: datetime | None = None  # the next attempt; None: at the next fetch
    failures: int = 0  # consecutive


@dataclass
class ResourceSet:
    source: str  # for the log lines
    explicit: Sequence[str]
    subscriptions: Sequence[str]
    interval: timedelta
    lister: Lister | None  # None: no subscriptions
    _subscriptions: dict[str, _Subscription] = field(init=False)
    _since: dict[str, datetime] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._subscriptions = {s: _Subscription() for s in self.subscriptions}

    @property
    def discovers(self) -> bool:
        return bool(self._subscriptions)

    def complete(self) -> bool:
        """Something to read without guessing: resource_ids are listed, or every subscription
        has been discovered once."""
        return bool(self.explicit) or all(
            s.resources is not None for s in self._subscriptions.values()
        )

    def refresh(self, now: datetime) -> list[SourceError]:
        """Discover the subscriptions that are due; their failures, in order."""
        failures: list[SourceError] = []
        for subscription, state in self._subscriptions.items():
            if self.lister is None or (state.due is not None and now < state.due):
                continue
            try:
                found = self.lister(subscription)
            except SourceError as error:
                self._failed(state, now, error)
                failures.append(error)
                continue
            resources = {resource_key(f.resource_id): f.resource_id for f in found}
            self._update(subscription, state, resources, now)
        return failures

    def _failed(self, state: _Subscription, now: datetime, error: SourceError) -> None:
        state.failures += 1
        if state.resources is None and not self.explicit:
            state.due = None  # nothing is read until it succeeds: the poll backoff paces it
            return
        delay = min(self.interval, FIRST_RETRY * 2 ** min(state.failures - 1, 20))
        if error.retry_after is not None:
            delay = max(delay, timedelta(seconds=error.retry_after))
        state.due = now + delay

    def _update(
        self, subscription: str, state: _Subscription, found: dict[str, str], now: datetime
    ) -> None:
        before = state.resources
        if before is not None and state.discovered_at is not None:
            for key in found.keys() - before.keys():
                self._since[key] = state.discovered_at
        appeared = sorted(found.keys() - (before or {}).keys())
        gone = sorted((before or {}).keys() - found.keys())
        if appeared or gone or before is None:
            log.info(
                "ACS resources discovered",
                extra={
                    "source": self.source,
                    "subscription": subscription,
                    "resources": len(found),
                    "appeared": appeared,
                    "gone": gone,
                },
            )
        state.resources, state.discovered_at = found, now
        state.due, state.failures = now + self.interval, 0

    def rediscover(self) -> None:
        """Discover every subscription at the next fetch (a resource read failed: it may be
        gone)."""
        for state in self._subscriptions.values():
            state.due = None

    def current(self) -> list[str]:
        """The resources to read: the listed ones, then the discovered ones not listed."""
        out = {resource_key(r): r for r in self.explicit}
        for state in self._subscriptions.values():
            for key, resource in sorted((state.resources or {}).items()):
                out.setdefault(key, resource)
        return list(out.values())

    def since(self, key: str) -> datetime | None:
        """When the discovery before the one that first listed `key` ran (None: it was listed
        by the first discovery of its subscription in this process)."""
        return self._since.get(key)

    def report(self, failures: Sequence[SourceError]) -> DiscoveryReport | None:
        if not self.discovers:
            return None
        errors = dict.fromkeys(DISCOVERY_REASONS, 0)
        for failure in failures:
            errors[failure.reason] = errors.get(failure.reason, 0) + 1
        found = {k for s in self._subscriptions.values() for k in (s.resources or {})}
        return DiscoveryReport(len(found), errors)
