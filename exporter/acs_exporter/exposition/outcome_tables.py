"""The outcome families kept up to date by each batch's change, not rebuilt from every series.

With 50,000 series and a handful changing per poll, rebuilding and sorting every family cost
80-150 ms a poll. Here each family keeps its samples as a list sorted by label values (a
changed sample is found by bisection); a change replaces the few samples it touches, and only
the families it touched get a new (immutable) `Family`, copied from the list in one C-level
pass. New series (rare once running) re-sort their family (timsort: one pass over an almost
sorted list). The lists are private and changed only under the exporter's lock; what is
published is tuples, so a reader never sees a half-applied change."""

from __future__ import annotations

import sys
from bisect import bisect_left
from collections.abc import Iterable
from operator import itemgetter

from acs_exporter.definitions.metrics import OUTCOME_LABELS
from acs_exporter.definitions.tables import LabelPlan, LogTable, counted
from acs_exporter.exposition.end_reason_info import EndReasonInfo
from acs_exporter.exposition.families import catalog_info_family
from acs_exporter.exposition.snapshot import Family
from acs_exporter.pipeline.state import StateKey

_LABELS = itemgetter(0)
Labels = tuple[str, ...]


class _FamilyTable:
    """One outcome family's samples, sorted by label values (found by bisection: an index of
    positions would cost ~80 bytes a series, and a poll looks up only the few it changes)."""

    __slots__ = ("_family", "_label_names", "_samples", "_table")

    def __init__(self, table: LogTable, label_names: Labels) -> None:
        self._table = table
        self._label_names = label_names
        self._samples: list[tuple[Labels, float]] = []
        self._family: Family | None = None  # None: changed since it was last built

    def add(self, increments: dict[Labels, int]) -> list[Labels]:
        """Add `increments`; returns the label tuples that are new to the family."""
        samples = self._samples
        size = len(samples)
        new: list[Labels] = []
        for labels, n in increments.items():
            i = bisect_left(samples, labels, 0, size, key=_LABELS) if size else 0
            if i < size and samples[i][0] == labels:
                samples[i] = (labels, samples[i][1] + n)
            else:
                new.append(labels)
                samples.append((labels, float(n)))
        if new:
            samples.sort(key=_LABELS)
        self._family = None
        return new

    def family(self) -> Family:
        if self._family is None:
            metric = self._table.metric
            self._family = Family(
                metric.name, metric.help, metric.kind, self._label_names, tuple(self._samples)
            )
        return self._family


class OutcomeTables:
    """Every outcome family and `acs_end_reason_info`, updated by `add` per change."""

    def __init__(self, plan: LabelPlan, with_source: bool, info: EndReasonInfo) -> None:
        self._with_source = with_source
        self._info = info
        self._tables: dict[str, _FamilyTable] = {}
        for table in counted():
            names = (*OUTCOME_LABELS, *plan.labels_for(table))
            self._tables[table.state_key] = _FamilyTable(
                table, (*names, "source") if with_source else names
            )
        self._observed: set[tuple[str, str, str]] = set()
        self._info_family: Family | None = None

    def add(self, series: Iterable[tuple[StateKey, int]]) -> None:
        """Count `series` increments ((source, series key), n) into the families."""
        by_family: dict[str, dict[Labels, int]] = {}
        for (source, (family, code, subcode, category, extra)), n in series:
            labels: Labels = (code, subcode, category, *extra)
            if self._with_source:
                labels = (*labels, source)
            # Without a `source` label, series of different sources (e.g. one removed from the
            # config but still in the checkpoint) share labels and are summed.
            increments = by_family.setdefault(family, {})
            increments[labels] = increments.get(labels, 0) + n
        for family, increments in by_family.items():
            table = self._tables.get(family)
            if table is None:  # a table no longer read (saved data): kept, not exposed
                continue
            for labels in table.add(increments):
                pair = (sys.intern(family), labels[0], labels[1])
                if pair not in self._observed:
                    self._observed.add(pair)
                    self._info_family = None

    def families(self) -> tuple[Family, ...]:
        """The outcome families in table order, then `acs_end_reason_info` (one row for every
        observed pair): the same objects for whatever did not change."""
        if self._info_family is None:
            self._info_family = catalog_info_family(self._info, observed=self._observed)
        return (*(t.family() for t in self._tables.values()), self._info_family)
