"""Snapshot families, built from metric_defs (names, kinds, help texts and label names are
declared there once; this module only computes the samples)."""

from __future__ import annotations

import platform
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from acs_exporter import __version__
from acs_exporter.catalog import Catalog
from acs_exporter.definitions import metrics as defs
from acs_exporter.definitions.metrics import OUTCOME_LABELS, MetricDef
from acs_exporter.definitions.tables import LabelPlan, by_state_key, counted
from acs_exporter.exposition.end_reason_info import EndReasonInfo
from acs_exporter.exposition.snapshot import Family, HistogramValue
from acs_exporter.pipeline.state import SourceCounts, State
from acs_exporter.sources.base import DiscoveryReport

POLL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# A sample: label values in label_names order, and the value.
Sample = tuple[tuple[str, ...], float | HistogramValue]


@dataclass(frozen=True)
class SourceHealth:
    """Process-local facts about one source's polls (not persisted: they describe this run)."""

    up: bool | None = None  # None: not polled yet
    last_success: float | None = None
    watermark: float | None = None
    polls: Mapping[str, int] = field(default_factory=dict)  # outcome -> count
    errors: Mapping[str, int] = field(default_factory=dict)  # reason -> count
    bucket_counts: tuple[int, ...] = (0,) * (len(POLL_BUCKETS) + 1)
    duration_sum: float = 0.0
    discovered: int | None = None  # None: the source discovers nothing
    discovery_errors: Mapping[str, int] = field(default_factory=dict)  # reason -> count

    def after_poll(
        self,
        ok: bool,
        duration: float,
        now: float,
        reason: str | None,
        watermark: float | None,
        *,
        discovery: DiscoveryReport | None = None,
    ) -> SourceHealth:
        outcome = "success" if ok else "error"
        polls = {**self.polls, outcome: self.polls.get(outcome, 0) + 1}
        errors = dict(self.errors)
        if reason is not None:
            errors[reason] = errors.get(reason, 0) + 1
        buckets = list(self.bucket_counts)
        buckets[bisect_left(POLL_BUCKETS, duration)] += 1
        discovery_errors = dict(self.discovery_errors)
        if discovery is not None:
            for key, n in discovery.errors.items():
                discovery_errors[key] = discovery_errors.get(key, 0) + n
        return replace(
            self,
            discovered=discovery.resources if discovery is not None else self.discovered,
            discovery_errors=discovery_errors,
            up=ok,
            last_success=now if ok else self.last_success,
            watermark=watermark if watermark is not None else self.watermark,
            polls=polls,
            errors=errors,
            bucket_counts=tuple(buckets),
            duration_sum=self.duration_sum + duration,
        )

    def histogram(self) -> HistogramValue:
        cumulative, running = [], 0
        for bound, count in zip((*POLL_BUCKETS, float("inf")), self.bucket_counts, strict=True):
            running += count
            cumulative.append((bound, running))
        return HistogramValue(tuple(cumulative), self.duration_sum, running)


def outcome_families(state: State, plan: LabelPlan, with_source: bool) -> tuple[Family, ...]:
    """One counter per table, named and described by its metric definition, from the whole
    state. The daemon keeps these families up to date per change instead (outcome_tables.py);
    this is the plain statement of what they must equal, which the tests compare them with."""
    # Without a `source` label, series of different sources (e.g. one removed from the config
    # but still in the checkpoint) share labels and must be summed, never emitted twice.
    by_family: dict[str, dict[tuple[str, ...], float]] = {t.state_key: {} for t in counted()}
    for (source, (family, code, subcode, category, extra)), value in state.series.items():
        labels = (code, subcode, category, *extra)
        if with_source:
            labels = (*labels, source)
        samples_of = by_family.get(family)
        if samples_of is None:  # a table no longer read (saved data): kept, not exposed
            continue
        samples_of[labels] = samples_of.get(labels, 0.0) + value
    families = []
    for table in counted():
        samples = by_family[table.state_key]
        label_names = (*OUTCOME_LABELS, *plan.labels_for(table))
        if with_source:
            label_names = (*label_names, "source")
        metric = table.metric
        families.append(
            Family(
                metric.name, metric.help, metric.kind, label_names, tuple(sorted(samples.items()))
            )
        )
    return tuple(families)


def _family(
    metric: MetricDef, samples: Iterable[Sample], label_names: tuple[str, ...] | None = None
) -> Family:
    """`metric`'s family (name, help, kind and labels from metric_defs) with `samples`."""
    labels = metric.labels if label_names is None else label_names
    return Family(metric.name, metric.help, metric.kind, labels, tuple(samples))


def disagreement_family(state: State, with_source: bool) -> Family:
    """Call ends on which the documented row and the service's ResultCategory disagree.

    Bounded by construction: (code, subcode) is always a documented pair of the catalog and
    both categories come from the four valid ones (aggregate.DisagreementKey).
    """
    samples: dict[tuple[str, ...], float] = {}
    for (source, key), value in state.disagreements.items():
        labels: tuple[str, ...] = (*key, source) if with_source else key
        samples[labels] = samples.get(labels, 0.0) + value
    metric = defs.CATEGORY_DISAGREEMENTS
    label_names = (*metric.labels, "source") if with_source else metric.labels
    return _family(metric, sorted(samples.items()), label_names)


def catalog_info_family(
    catalog: Catalog | EndReasonInfo,
    state: State | None = None,
    *,
    observed: Iterable[tuple[str, str, str]] = (),
) -> Family:
    """One row per (counter, code, subcode) the outcome counters can carry (end_reason_info.py):
    every pair of `state` (or `observed`: (family, code, subcode)) finds its row with the
    documented join on (code, subcode)."""
    info = catalog if isinstance(catalog, EndReasonInfo) else EndReasonInfo(catalog)
    if state is not None:
        observed = {(family, code, subcode) for _, (family, code, subcode, _, _) in state.series}
    return _family(defs.END_REASON_INFO, info.samples(observed))


def build_info_family() -> Family:
    return _family(defs.BUILD_INFO, (((__version__, platform.python_version()), 1.0),))


@dataclass(frozen=True)
class _SelfInputs:
    """What the self-metrics are computed from, with the per-source views they share."""

    state: State
    health: Mapping[str, SourceHealth]
    max_series: int
    now: float
    known_rejections: Mapping[str, Sequence[str]]
    plan: LabelPlan | None

    @property
    def names(self) -> list[str]:
        return sorted(self.health)

    def per_source(self, value: Callable[[str], float | None]) -> tuple[Sample, ...]:
        """One `source` sample per polled source; None (not known yet) means no sample."""
        pairs = ((name, value(name)) for name in self.names)
        return tuple(((name,), v) for name, v in pairs if v is not None)

    def per_reason(self, counts: Callable[[str], Mapping[str, int]]) -> tuple[Sample, ...]:
        """(`source`, label) samples from a per-source count per label value, in its order."""
        return tuple(
            ((name, key), float(n)) for name in self.names for key, n in counts(name).items()
        )

    def counts(self, name: str) -> SourceCounts:
        return self.state.sources.get(name) or SourceCounts()

    def polls(self, name: str) -> Mapping[str, int]:
        return {o: self.health[name].polls.get(o, 0) for o in ("success", "error")}

    def rejections(self, name: str) -> Mapping[str, int]:
        # Known reasons start at 0, so the rejected-records panel shows 0, not "no data".
        known = dict.fromkeys(self.known_rejections.get(name, ()), 0)
        return _sorted(known | dict(self.counts(name).rejected))

    def errors(self, name: str) -> Mapping[str, int]:
        return _sorted(self.health[name].errors)

    def cursor_timestamps(self) -> tuple[Sample, ...]:
        return self.per_source(lambda n: self.health[n].watermark)


# The self-metrics, in docs/metrics.md's order: each family and how its samples are computed.
_SELF_METRICS: tuple[tuple[MetricDef, Callable[[_SelfInputs], Iterable[Sample]]], ...] = (
    # 0 before the first poll ends, so an alert on == 0 also catches a first poll that hangs or
    # never succeeds.
    (defs.SOURCE_UP, lambda i: i.per_source(lambda n: float(bool(i.health[n].up)))),
    (defs.LAST_SUCCESSFUL_POLL, lambda i: i.per_source(lambda n: i.health[n].last_success)),
    (defs.CURSOR_TIMESTAMP, _SelfInputs.cursor_timestamps),
    (defs.CURSOR_LAG, lambda i: _lag_samples(i.cursor_timestamps(), i.now)),
    (defs.POLL_DURATION, lambda i: (((n,), i.health[n].histogram()) for n in i.names)),
    (defs.POLLS, lambda i: i.per_reason(i.polls)),
    (defs.RECORDS_READ, lambda i: i.per_source(lambda n: float(i.counts(n).records_read))),
    (defs.RECORDS_REJECTED, lambda i: i.per_reason(i.rejections)),
    (defs.QUERY_ERRORS, lambda i: i.per_reason(i.errors)),
    (
        defs.DISCOVERY_ERRORS,
        lambda i: i.per_reason(lambda n: _sorted(i.health[n].discovery_errors)),
    ),
    (defs.DISCOVERED_RESOURCES, lambda i: i.per_source(lambda n: i.health[n].discovered)),
    (defs.UNKNOWN_END_REASONS, lambda i: i.per_source(lambda n: float(i.counts(n).unknown))),
    (defs.MALFORMED_END_REASONS, lambda i: i.per_source(lambda n: float(i.counts(n).malformed))),
    (defs.FOLDED_RECORDS, lambda i: _folded_samples(i.state, i.plan)),
    (defs.SERIES, lambda i: (((), float(len(i.state.series))),)),
    (defs.SERIES_LIMIT, lambda i: (((), float(i.max_series)),)),
)


def _sorted(counts: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items()))


def self_families(
    state: State,
    health: Mapping[str, SourceHealth],
    max_series: int,
    now: float,
    known_rejections: Mapping[str, Sequence[str]] | None = None,
    *,
    plan: LabelPlan | None = None,
) -> tuple[Family, ...]:
    inputs = _SelfInputs(state, health, max_series, now, known_rejections or {}, plan)
    # The discovery families only where a source discovers (azure_metrics `subscriptions`).
    discovers = any(h.discovered is not None for h in health.values())
    return tuple(
        _family(metric, samples(inputs))
        for metric, samples in _SELF_METRICS
        if discovers or metric not in defs.DISCOVERY_ONLY
    )


def _folded_samples(
    state: State, plan: LabelPlan | None
) -> tuple[tuple[tuple[str, ...], float], ...]:
    # Every label the guard can fold starts at 0, so rate() and alerts see 0, not "no data".
    counts: dict[tuple[str, str], int] = {}
    if plan is not None:
        for table in counted():
            for label in ("code", "subcode", *plan.labels_for(table)):
                counts[(table.state_key, label)] = 0
    counts.update(state.folded_labels)

    def metric(family: str) -> str:
        table = by_state_key(family)
        return family if table is None else table.metric.sample

    return tuple(((metric(f), label), float(n)) for (f, label), n in counts.items())


def with_current_lag(families: Iterable[Family], now: float) -> tuple[Family, ...]:
    """`families` with the cursor lag as of `now`, from the cursor timestamps.

    The lag is "now minus the cursor" (docs/metrics.md): every reader of a snapshot (scrape,
    render, OTLP push) calls this when it reads, rather than trusting the value the snapshot
    was built with.
    """
    families = tuple(families)
    timestamps = next((f for f in families if f.name == defs.CURSOR_TIMESTAMP.name), None)
    samples = _lag_samples(timestamps.samples if timestamps else (), now)
    return tuple(
        replace(f, samples=samples) if f.name == defs.CURSOR_LAG.name else f for f in families
    )


def _lag_samples(cursor_timestamps: Iterable[Sample], now: float) -> tuple[Sample, ...]:
    return tuple(
        (labels, max(0.0, now - value))
        for labels, value in cursor_timestamps
        if isinstance(value, int | float)
    )


def reload_families(successful: bool, success_timestamp: float) -> tuple[Family, ...]:
    """As Prometheus names them: whether the last SIGHUP reload worked, and when the
    configuration was last loaded successfully (start-up counts as a load)."""
    return (
        _family(defs.CONFIG_RELOAD_SUCCESSFUL, (((), 1.0 if successful else 0.0),)),
        _family(defs.CONFIG_RELOAD_SUCCESS_TIMESTAMP, (((), success_timestamp),)),
    )
