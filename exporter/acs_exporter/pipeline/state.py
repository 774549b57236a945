"""Cumulative counts and cursors: what is persisted together, atomically, after every batch.

A `State` is never changed once published: `apply` returns a new one, so a snapshot built from
it, a checkpoint written from it, and a concurrent scrape all see the same consistent numbers.
The cardinality guard lives here because it depends on the series already counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from acs_exporter.definitions.metrics import OUTCOME_LABELS
from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.pipeline.aggregate import OTHER, Delta, DisagreementKey, SeriesKey
from acs_exporter.pipeline.guard import SeriesGuard, Values
from acs_exporter.sources.base import Cursor

# (source name, series key)
StateKey = tuple[str, SeriesKey]
# (source name, (code, subcode, catalog category, service category))
DisagreementStateKey = tuple[str, DisagreementKey]
# (family, label) -> call ends (or media results) whose value of that label was folded
FoldedLabels = Mapping[tuple[str, str], int]

# The labels of an outcome series before its extra labels (metric_defs.OUTCOME_LABELS); the
# category alone is not data.
_OUTCOME_FOLDABLE = (True, True, False)


@dataclass(frozen=True)
class SourceCounts:
    records_read: int = 0
    unknown: int = 0
    malformed: int = 0
    rejected: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class State:
    series: Mapping[StateKey, int] = field(default_factory=dict)
    sources: Mapping[str, SourceCounts] = field(default_factory=dict)
    cursors: Mapping[str, Cursor] = field(default_factory=dict)
    folded: int = 0  # records folded, each once
    # Call ends whose documented category and service category differ (aggregate.py)
    disagreements: Mapping[DisagreementStateKey, int] = field(default_factory=dict)
    folded_labels: FoldedLabels = field(default_factory=dict)

    def apply(self, source: str, delta: Delta, cursor: Cursor, max_series: int) -> State:
        """The state after `delta`; new series past `max_series` are folded (guard.py):
        their data labels become `other`, the category stays."""
        # An empty delta keeps the same mapping, so snapshot builders can tell nothing changed.
        series: Mapping[StateKey, int] = self.series
        folded = self.folded
        folded_labels = self.folded_labels
        if delta.series:
            grown = dict(self.series)
            by_label = Counter(self.folded_labels)
            guard = SeriesGuard(max_series, lambda: _flat_series(grown))
            for key, n in delta.series.items():
                state_key = (source, key)
                if state_key not in grown:
                    state_key, names = _placed(guard, grown, source, key, delta)
                    if names:
                        folded += n
                        for name in names:
                            by_label[(key[0], name)] += n
                grown[state_key] = grown.get(state_key, 0) + n
            series = grown
            folded_labels = dict(by_label)
        before = self.sources.get(source, SourceCounts())
        rejected = Counter(before.rejected)
        rejected.update(delta.rejected)
        counts = SourceCounts(
            records_read=before.records_read + delta.records_read,
            unknown=before.unknown + delta.unknown,
            malformed=before.malformed + delta.malformed,
            rejected=dict(rejected),
        )
        cursors = dict(self.cursors)
        if cursor is not None:
            cursors[source] = cursor
        disagreements = self.disagreements
        if delta.disagreements:
            disagreements = dict(disagreements)
            for pair, n in delta.disagreements.items():
                disagreements[(source, pair)] = disagreements.get((source, pair), 0) + n
        return State(
            series,
            {**self.sources, source: counts},
            cursors,
            folded,
            disagreements=disagreements,
            folded_labels=folded_labels,
        )

    # --- persistence form (plain JSON data; checkpoint.py adds the envelope and checksum) ---

    def to_data(self, plan: LabelPlan) -> dict[str, Any]:
        series = []
        for (source, (family, code, subcode, category, extra)), value in self.series.items():
            labels = dict(zip(plan.labels_of_key(family), extra, strict=True))
            series.append(
                {
                    "source": source,
                    "family": family,
                    "code": code,
                    "subcode": subcode,
                    "category": category,
                    "labels": labels,
                    "value": value,
                }
            )
        return {
            "series": series,
            "sources": {
                name: {
                    "records_read": c.records_read,
                    "unknown": c.unknown,
                    "malformed": c.malformed,
                    "rejected": dict(c.rejected),
                }
                for name, c in self.sources.items()
            },
            "cursors": dict(self.cursors),
            "folded": self.folded,
            "disagreements": [
                {
                    "source": source,
                    "code": code,
                    "subcode": subcode,
                    "catalog_category": catalog_category,
                    "service_category": service_category,
                    "value": value,
                }
                for (
                    source,
                    (code, subcode, catalog_category, service_category),
                ), value in self.disagreements.items()
            ],
            "folded_labels": [
                {"family": family, "label": label, "value": value}
                for (family, label), value in sorted(self.folded_labels.items())
            ],
        }

    @staticmethod
    def from_data(data: Mapping[str, Any], plan: LabelPlan) -> State:
        """Rebuild from `to_data`, projecting extra labels onto the current `plan` (a label
        switched off merges its series; one switched on starts empty for old counts)."""
        series: dict[StateKey, int] = {}
        for item in data["series"]:
            family = str(item["family"])
            labels = item.get("labels") or {}
            extra = tuple(str(labels.get(name, "")) for name in plan.labels_of_key(family))
            key: StateKey = (
                str(item["source"]),
                (family, str(item["code"]), str(item["subcode"]), str(item["category"]), extra),
            )
            value = int(item["value"])
            if value < 0:
                raise ValueError(f"negative count {value} for {key}")
            series[key] = series.get(key, 0) + value
        sources = {
            str(name): SourceCounts(
                records_read=int(c["records_read"]),
                unknown=int(c["unknown"]),
                malformed=int(c["malformed"]),
                rejected={str(k): int(v) for k, v in c["rejected"].items()},
            )
            for name, c in data["sources"].items()
        }
        # Checkpoints written before disagreements were counted have none.
        disagreements: dict[DisagreementStateKey, int] = {}
        for item in data.get("disagreements", ()):
            pair: DisagreementStateKey = (
                str(item["source"]),
                (
                    str(item["code"]),
                    str(item["subcode"]),
                    str(item["catalog_category"]),
                    str(item["service_category"]),
                ),
            )
            count = int(item["value"])
            if count < 0:
                raise ValueError(f"negative count {count} for disagreement {pair}")
            disagreements[pair] = disagreements.get(pair, 0) + count
        if "folded_labels" in data:
            folded_labels = {
                (str(item["family"]), str(item["label"])): int(item["value"])
                for item in data["folded_labels"]
            }
        else:
            folded_labels = _folded_pairs(series)
        return State(
            series,
            sources,
            dict(data["cursors"]),
            int(data["folded"]),
            disagreements=disagreements,
            folded_labels=folded_labels,
        )


def _flat(key: SeriesKey) -> Values:
    _family, code, subcode, category, extra = key
    return (code, subcode, category, *extra)


def _flat_series(series: Mapping[StateKey, int]) -> list[tuple[str, Values]]:
    return [(key[0], _flat(key)) for _source, key in series]


def _placed(
    guard: SeriesGuard, grown: Mapping[StateKey, int], source: str, key: SeriesKey, delta: Delta
) -> tuple[StateKey, list[str]]:
    """Where a series not counted yet goes, and the names of the labels folded on the way."""
    family, category = key[0], key[3]

    def as_key(values: Values) -> StateKey:
        return (source, (family, values[0], values[1], category, values[3:]))

    values = _flat(key)
    foldable = _foldable(len(values))
    placement = guard.place(family, values, foldable, lambda v: as_key(v) in grown, size=len(grown))
    if not placement.folded:
        return (source, key), []
    names = (*OUTCOME_LABELS, *delta.label_names.get(family, ()))
    return as_key(placement.values), [
        names[i] if i < len(names) else f"label{i}" for i in placement.folded
    ]


@cache
def _foldable(width: int) -> tuple[bool, ...]:
    return _OUTCOME_FOLDABLE + (True,) * (width - len(_OUTCOME_FOLDABLE))


def _folded_pairs(series: Mapping[StateKey, int]) -> dict[tuple[str, str], int]:
    """A checkpoint from before labels were folded one by one: only (code, subcode) pairs were,
    both into `other` (a code parsed from data is never `other`), so the series say how many."""
    folded: Counter[tuple[str, str]] = Counter()
    for (_source, (family, code, subcode, _category, _extra)), value in series.items():
        if code == OTHER and subcode == OTHER:
            folded[(family, "code")] += value
            folded[(family, "subcode")] += value
    return dict(folded)
