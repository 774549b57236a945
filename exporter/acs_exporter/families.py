"""Snapshot families: names, labels and help texts exactly as docs/metrics.md lists them."""

from __future__ import annotations

import platform
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from acs_exporter import __version__
from acs_exporter.catalog import Catalog
from acs_exporter.end_reason_info import EndReasonInfo
from acs_exporter.snapshot import Family, HistogramValue
from acs_exporter.state import State
from acs_exporter.tables import LabelPlan, by_state_key, registered

POLL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
OUTCOME_LABELS = ("code", "subcode", "category")
CURSOR_LAG = "acs_exporter_cursor_lag_seconds"
CURSOR_TIMESTAMP = "acs_exporter_cursor_timestamp_seconds"


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

    def after_poll(
        self, ok: bool, duration: float, now: float, reason: str | None, watermark: float | None
    ) -> SourceHealth:
        outcome = "success" if ok else "error"
        polls = {**self.polls, outcome: self.polls.get(outcome, 0) + 1}
        errors = dict(self.errors)
        if reason is not None:
            errors[reason] = errors.get(reason, 0) + 1
        buckets = list(self.bucket_counts)
        buckets[bisect_left(POLL_BUCKETS, duration)] += 1
        return replace(
            self,
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
    """One counter per table, named and described by its metric definition."""
    # Without a `source` label, series of different sources (e.g. one removed from the config
    # but still in the checkpoint) share labels and must be summed, never emitted twice.
    by_family: dict[str, dict[tuple[str, ...], float]] = {t.state_key: {} for t in registered()}
    for (source, (family, code, subcode, category, extra)), value in state.series.items():
        labels = (code, subcode, category, *extra)
        if with_source:
            labels = (*labels, source)
        samples_of = by_family.get(family)
        if samples_of is None:  # a table no longer read (saved data): kept, not exposed
            continue
        samples_of[labels] = samples_of.get(labels, 0.0) + value
    families = []
    for table in registered():
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


DISAGREEMENT_LABELS = ("code", "subcode", "catalog_category", "service_category")


def disagreement_family(state: State, with_source: bool) -> Family:
    """Call ends on which the documented row and the service's ResultCategory disagree.

    Bounded by construction: (code, subcode) is always a documented pair of the catalog and
    both categories come from the four valid ones (aggregate.DisagreementKey).
    """
    samples: dict[tuple[str, ...], float] = {}
    for (source, key), value in state.disagreements.items():
        labels: tuple[str, ...] = (*key, source) if with_source else key
        samples[labels] = samples.get(labels, 0.0) + value
    label_names = (*DISAGREEMENT_LABELS, "source") if with_source else DISAGREEMENT_LABELS
    return Family(
        "acs_call_end_category_disagreements",
        "Participant call ends whose documented category (catalog) and ResultCategory "
        "(service) differ; metrics.category_source decides which one `category` carries.",
        "counter",
        label_names,
        tuple(sorted(samples.items())),
    )


def catalog_info_family(catalog: Catalog | EndReasonInfo, state: State | None = None) -> Family:
    """One row per (counter, code, subcode) the outcome counters can carry (end_reason_info.py):
    every pair of `state` finds its row with the documented join on (code, subcode)."""
    info = catalog if isinstance(catalog, EndReasonInfo) else EndReasonInfo(catalog)
    observed = (
        {(family, code, subcode) for _, (family, code, subcode, _, _) in state.series}
        if state is not None
        else set()
    )
    return Family(
        "acs_end_reason_info",
        "What an end reason means (always 1): category, message, advice and the documentation "
        'page; join on (code, subcode) with domain="call-end" (call ends) or '
        '"call-automation" (media results).',
        "gauge",
        ("code", "subcode", "category", "domain", "message", "advice", "doc_url"),
        info.samples(observed),
    )


def build_info_family() -> Family:
    return Family(
        "acs_exporter_build_info",
        "Build information of the running exporter (always 1).",
        "gauge",
        ("version", "python_version"),
        (((__version__, platform.python_version()), 1.0),),
    )


def self_families(
    state: State,
    health: Mapping[str, SourceHealth],
    max_series: int,
    now: float,
    known_rejections: Mapping[str, Sequence[str]] | None = None,
    *,
    plan: LabelPlan | None = None,
) -> tuple[Family, ...]:
    names = sorted(health)

    def per_source(
        values: Iterable[tuple[str, float | None]],
    ) -> tuple[tuple[tuple[str, ...], float], ...]:
        return tuple(((name,), value) for name, value in values if value is not None)

    def counts(name: str) -> tuple[int, int, int]:
        c = state.sources.get(name)
        return (c.records_read, c.unknown, c.malformed) if c else (0, 0, 0)

    polls = tuple(
        ((name, outcome), float(health[name].polls.get(outcome, 0)))
        for name in names
        for outcome in ("success", "error")
    )
    errors = tuple(
        ((name, reason), float(n))
        for name in names
        for reason, n in sorted(health[name].errors.items())
    )

    def rejections(name: str) -> dict[str, int]:
        counted = state.sources[name].rejected if name in state.sources else {}
        return dict.fromkeys((known_rejections or {}).get(name, ()), 0) | dict(counted)

    rejected = tuple(
        ((name, reason), float(n))
        for name in names
        for reason, n in sorted(rejections(name).items())
    )
    series_count = len(state.series)
    cursor_timestamps = Family(
        CURSOR_TIMESTAMP,
        "How far the source has been read: ingestion time of its cursor, Unix seconds.",
        "gauge",
        ("source",),
        per_source((n, health[n].watermark) for n in names),
    )
    return (
        Family(
            "acs_exporter_source_up",
            "1 when the last poll of the source succeeded; 0 when it failed or none has "
            "finished yet.",
            "gauge",
            ("source",),
            # 0 before the first poll ends, so an alert on == 0 also catches a first poll that
            # hangs or never succeeds.
            per_source((n, float(bool(health[n].up))) for n in names),
        ),
        Family(
            "acs_exporter_last_successful_poll_timestamp_seconds",
            "Unix time of the last successful poll of the source.",
            "gauge",
            ("source",),
            per_source((n, health[n].last_success) for n in names),
        ),
        cursor_timestamps,
        Family(
            CURSOR_LAG,
            "Now minus the source's cursor: how far behind real time the counts are.",
            "gauge",
            ("source",),
            _lag_samples(cursor_timestamps, now),
        ),
        Family(
            "acs_exporter_poll_duration_seconds",
            "Time spent in one poll of the source, including the query.",
            "histogram",
            ("source",),
            tuple(((n,), health[n].histogram()) for n in names),
        ),
        Family(
            "acs_exporter_polls",
            "Polls of the source by outcome (success, error), since the process started.",
            "counter",
            ("source", "outcome"),
            polls,
        ),
        Family(
            "acs_exporter_records_read",
            "Records read from the source and counted (calls, not query rows).",
            "counter",
            ("source",),
            per_source((n, float(counts(n)[0])) for n in names),
        ),
        Family(
            "acs_exporter_records_rejected",
            "Records that could not be read at all, by reason; the source logs where.",
            "counter",
            ("source", "reason"),
            rejected,
        ),
        Family(
            "acs_exporter_query_errors",
            "Failed polls of the source by reason, since the process started.",
            "counter",
            ("source", "reason"),
            errors,
        ),
        Family(
            "acs_exporter_unknown_end_reasons",
            "Call ends whose end reason the catalog did not know (category Unknown).",
            "counter",
            ("source",),
            per_source((n, float(counts(n)[1])) for n in names),
        ),
        Family(
            "acs_exporter_malformed_end_reasons",
            "Call ends whose code or subcode was empty, null, negative or not an integer.",
            "counter",
            ("source",),
            per_source((n, float(counts(n)[2])) for n in names),
        ),
        Family(
            "acs_exporter_folded_records",
            "Records whose value of `label` the cardinality guard replaced by `other` in the "
            "series of `family` (category kept).",
            "counter",
            ("family", "label"),
            _folded_samples(state, plan),
        ),
        Family(
            "acs_exporter_series",
            "Distinct outcome series currently exported.",
            "gauge",
            (),
            (((), float(series_count)),),
        ),
        Family(
            "acs_exporter_series_limit",
            "Configured ceiling on distinct outcome series (metrics.max_series).",
            "gauge",
            (),
            (((), float(max_series)),),
        ),
    )


def _folded_samples(
    state: State, plan: LabelPlan | None
) -> tuple[tuple[tuple[str, ...], float], ...]:
    # Every label the guard can fold starts at 0, so rate() and alerts see 0, not "no data".
    counts: dict[tuple[str, str], int] = {}
    if plan is not None:
        for table in registered():
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
    samples = _lag_samples(next((f for f in families if f.name == CURSOR_TIMESTAMP), None), now)
    return tuple(replace(f, samples=samples) if f.name == CURSOR_LAG else f for f in families)


def _lag_samples(
    cursor_timestamps: Family | None, now: float
) -> tuple[tuple[tuple[str, ...], float], ...]:
    if cursor_timestamps is None:
        return ()
    return tuple(
        (labels, max(0.0, now - value))
        for labels, value in cursor_timestamps.samples
        if isinstance(value, int | float)
    )


def reload_families(successful: bool, success_timestamp: float) -> tuple[Family, ...]:
    """As Prometheus names them: whether the last SIGHUP reload worked, and when the
    configuration was last loaded successfully (start-up counts as a load)."""
    return (
        Family(
            "acs_exporter_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful (1) or not (0).",
            "gauge",
            (),
            (((), 1.0 if successful else 0.0),),
        ),
        Family(
            "acs_exporter_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load (start-up or reload).",
            "gauge",
            (),
            (((), success_timestamp),),
        ),
    )
