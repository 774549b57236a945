"""Cumulative counts and cursors: what is persisted together, atomically, after every batch.

A `State` is never changed once published: `apply` returns a new one, so a snapshot built from
it, a checkpoint written from it, and a concurrent scrape all see the same consistent numbers.
The cardinality guard lives here because it depends on the series already counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from acs_exporter.aggregate import OTHER, Delta, DisagreementKey, LabelPlan, SeriesKey
from acs_exporter.sources.base import Cursor

# (source name, series key)
StateKey = tuple[str, SeriesKey]
# (source name, (code, subcode, catalog category, service category))
DisagreementStateKey = tuple[str, DisagreementKey]


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
    folded: int = 0
    # Call ends whose documented category and service category differ (aggregate.py)
    disagreements: Mapping[DisagreementStateKey, int] = field(default_factory=dict)

    def apply(self, source: str, delta: Delta, cursor: Cursor, max_series: int) -> State:
        """The state after `delta`; new series past `max_series` fold into other/other."""
        # An empty delta keeps the same mapping, so snapshot builders can tell nothing changed.
        series: Mapping[StateKey, int] = self.series
        folded = self.folded
        if delta.series:
            grown = dict(self.series)
            for key, n in delta.series.items():
                state_key = (source, key)
                if state_key not in grown and len(grown) >= max_series:
                    family, _code, _subcode, category, extra = key
                    state_key = (source, (family, OTHER, OTHER, category, extra))
                    folded += n
                grown[state_key] = grown.get(state_key, 0) + n
            series = grown
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
        return State(series, {**self.sources, source: counts}, cursors, folded, disagreements)

    # --- persistence form (plain JSON data; checkpoint.py adds the envelope and checksum) ---

    def to_data(self, plan: LabelPlan) -> dict[str, Any]:
        series = []
        for (source, (family, code, subcode, category, extra)), value in self.series.items():
            labels = dict(zip(plan.labels_for(family), extra, strict=True))
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
        }

    @staticmethod
    def from_data(data: Mapping[str, Any], plan: LabelPlan) -> State:
        """Rebuild from `to_data`, projecting extra labels onto the current `plan` (a label
        switched off merges its series; one switched on starts empty for old counts)."""
        series: dict[StateKey, int] = {}
        for item in data["series"]:
            family = str(item["family"])
            labels = item.get("labels") or {}
            extra = tuple(str(labels.get(name, "")) for name in plan.labels_for(family))
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
        return State(series, sources, dict(data["cursors"]), int(data["folded"]), disagreements)
