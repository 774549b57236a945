"""Cumulative counts and cursors: what is persisted together, atomically, after every batch.

A `State` is never changed once published: `apply` returns a new one, so a snapshot built from
it, a checkpoint written from it, and a concurrent scrape all see the same consistent numbers.
The cardinality guard lives here because it depends on the series already counted.
"""

from __future__ import annotations

import copy
import sys
from collections import Counter
from collections.abc import ItemsView, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
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
        return self.applied(source, delta, cursor, max_series)[0]

    def applied(
        self, source: str, delta: Delta, cursor: Cursor, max_series: int
    ) -> tuple[State, Change]:
        """`apply`, with the `Change` it made (the journal's record of it: series as placed
        by the guard, so replaying it needs no guard and gives exactly this state)."""
        # An empty delta keeps the same mapping, so snapshot builders can tell nothing changed.
        series: Mapping[StateKey, int] = self.series
        placed: dict[SeriesKey, int] = {}
        folded_now: Counter[tuple[str, str]] = Counter()
        if delta.series:
            grown = Series.of(self.series).draft()
            guard = SeriesGuard(max_series, lambda: _flat_series(grown))
            for key, n in delta.series.items():
                state_key = (source, key)
                if state_key not in grown:
                    state_key, names = _placed(guard, grown, source, key, delta)
                    for name in names:
                        folded_now[(key[0], name)] += n
                    if names:
                        folded_now[_FOLDED_RECORDS] += n
                grown.set_count(state_key, grown.get_count(state_key) + n)
                placed[state_key[1]] = placed.get(state_key[1], 0) + n
            series = grown.frozen()
        folded = folded_now.pop(_FOLDED_RECORDS, 0)
        change = Change(
            source,
            cursor,
            placed,
            delta.records_read,
            delta.unknown,
            delta.malformed,
            {str(k): v for k, v in delta.rejected.items()},
            dict(delta.disagreements),
            folded,
            dict(folded_now),
        )
        return self._with(change, series), change

    def _with(self, change: Change, series: Mapping[StateKey, int]) -> State:
        """This state with `change`'s accounting, cursor and disagreements, and `series`."""
        source = change.source
        before = self.sources.get(source, SourceCounts())
        rejected = Counter(before.rejected)
        rejected.update(change.rejected)
        counts = SourceCounts(
            records_read=before.records_read + change.records_read,
            unknown=before.unknown + change.unknown,
            malformed=before.malformed + change.malformed,
            rejected=dict(rejected),
        )
        cursors = dict(self.cursors)
        if change.cursor is not None:
            cursors[source] = change.cursor
        disagreements = self.disagreements
        if change.disagreements:
            disagreements = dict(disagreements)
            for pair, n in change.disagreements.items():
                disagreements[(source, pair)] = disagreements.get((source, pair), 0) + n
        folded_labels = self.folded_labels
        if change.folded_labels:
            by_label = Counter(self.folded_labels)
            by_label.update(change.folded_labels)
            folded_labels = dict(by_label)
        return State(
            series,
            {**self.sources, source: counts},
            cursors,
            self.folded + change.folded,
            disagreements=disagreements,
            folded_labels=folded_labels,
        )

    # --- persistence form (plain JSON data; checkpoint.py adds the envelope and checksum) ---

    def to_data(self, plan: LabelPlan) -> dict[str, Any]:
        return {
            "series": [
                _series_item(source, key, value, plan)
                for (source, key), value in self.series.items()
            ],
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
                _disagreement_item(source, pair, value)
                for (source, pair), value in self.disagreements.items()
            ],
            "folded_labels": _folded_label_items(self.folded_labels),
        }

    def replayed(self, changes: Iterable[Change]) -> State:
        """This state with `changes` (journal records, `Change.from_data`) added, in order,
        costing in proportion to them (a standby following its leader's commits)."""
        # One draft for all of them: a draft copies the overlay of changed series, so one per
        # change would cost that copy per change. `_with` takes the series as given, and the
        # accounting of each change needs only the state before it.
        state, grown = self, None
        for change in changes:
            if change.series:
                grown = grown if grown is not None else Series.of(self.series).draft()
                for key, n in change.series.items():
                    state_key = (change.source, key)
                    grown.set_count(state_key, grown.get_count(state_key) + n)
            state = state._with(change, self.series)
        return state if grown is None else replace(state, series=grown.frozen())

    @staticmethod
    def from_data(
        data: Mapping[str, Any], plan: LabelPlan, changes: Iterable[Mapping[str, Any]] = ()
    ) -> State:
        """Rebuild from `to_data`, then replay `changes` (`Change.to_data`, the journal) in
        order, projecting extra labels onto the current `plan` (a label switched off merges
        its series; one switched on starts empty for old counts)."""
        built = _Accumulator(plan)
        for item in data["series"]:
            built.add_series(str(item["source"]), item)
        for name, c in data["sources"].items():
            built.add_counts(built.text(name), c)
        # Checkpoints written before disagreements were counted have none.
        for item in data.get("disagreements", ()):
            built.add_disagreement(built.text(item["source"]), item)
        built.cursors.update(data["cursors"])
        built.folded = int(data["folded"])
        if "folded_labels" in data:
            built.add_folded_labels(data["folded_labels"])
        else:
            built.folded_labels.update(_folded_pairs(built.series))
        for change in changes:
            built.replay(change)
        return built.state()


class Series(Mapping[StateKey, int]):
    """The count of every series, shared between successive states so that applying a batch
    costs in proportion to the batch, not to all series (a copy of 100k series is ~5 ms).

    A base dict, never changed once shared, and an overlay of the series changed since, copied
    per batch. When the overlay outgrows an eighth of the base the two are merged: one O(n)
    copy per n/8 changed series, so a few changes per poll cost a few entries amortized.
    """

    __slots__ = ("_added", "_base", "_overlay")

    def __init__(
        self, base: dict[StateKey, int], overlay: dict[StateKey, int] | None = None, added: int = 0
    ) -> None:
        self._base = base
        self._overlay = overlay if overlay is not None else {}
        self._added = added  # overlay keys not in the base

    @staticmethod
    def of(series: Mapping[StateKey, int]) -> Series:
        return series if isinstance(series, Series) else Series(dict(series))

    def __getitem__(self, key: StateKey) -> int:
        found = self._overlay.get(key)
        return self._base[key] if found is None else found

    def __contains__(self, key: object) -> bool:
        return key in self._overlay or key in self._base

    def __len__(self) -> int:
        return len(self._base) + self._added

    def __iter__(self) -> Iterator[StateKey]:
        yield from self._base
        base = self._base
        yield from (key for key in self._overlay if key not in base)

    def items(self) -> ItemsView[StateKey, int]:
        return (self._base if not self._overlay else {**self._base, **self._overlay}).items()

    def draft(self) -> _Draft:
        """A private, writable continuation of these counts (this one is left as it is)."""
        return _Draft(self._base, dict(self._overlay), self._added)


class _Draft(Series):
    """Series being built by one `State.applied`, before anyone else can see them."""

    __slots__ = ()

    def get_count(self, key: StateKey) -> int:
        found = self._overlay.get(key)
        return self._base.get(key, 0) if found is None else found

    def set_count(self, key: StateKey, value: int) -> None:
        if key not in self._overlay and key not in self._base:
            self._added += 1
        self._overlay[key] = value

    def frozen(self) -> Series:
        if len(self._overlay) > max(1024, len(self._base) // 8):
            return Series({**self._base, **self._overlay})
        return Series(self._base, self._overlay, self._added)


# The key under which `applied` counts folded records beside the folded labels.
_FOLDED_RECORDS = ("", "")


@dataclass(frozen=True, slots=True)
class Change:
    """What one `State.applied` added: the journal record of one batch (checkpoint.py).

    Increments, not totals: replayed onto an older snapshot under a changed label plan, they
    merge exactly as the snapshot's own series do."""

    source: str
    cursor: Cursor  # None: unchanged
    series: Mapping[SeriesKey, int]  # keys as placed by the guard
    records_read: int = 0
    unknown: int = 0
    malformed: int = 0
    rejected: Mapping[str, int] = field(default_factory=dict)
    disagreements: Mapping[DisagreementKey, int] = field(default_factory=dict)
    folded: int = 0
    folded_labels: FoldedLabels = field(default_factory=dict)

    def to_data(self, plan: LabelPlan) -> dict[str, Any]:
        source = self.source
        return {
            "source": source,
            "cursor": self.cursor,
            "series": [_series_item(source, k, v, plan) for k, v in self.series.items()],
            "records_read": self.records_read,
            "unknown": self.unknown,
            "malformed": self.malformed,
            "rejected": dict(self.rejected),
            "disagreements": [
                _disagreement_item(source, pair, n) for pair, n in self.disagreements.items()
            ],
            "folded": self.folded,
            "folded_labels": _folded_label_items(self.folded_labels),
        }

    @staticmethod
    def from_data(data: Mapping[str, Any], plan: LabelPlan) -> Change:
        """Rebuild from `to_data` (a journal record), extra labels projected onto `plan` as
        `State.from_data` does. Raises KeyError, TypeError, ValueError or AttributeError
        when `data` is not a record."""
        built = _Accumulator(plan)
        built.replay(data)
        source = built.text(data["source"])
        (records_read, unknown, malformed), rejected = built.sources[source]
        return Change(
            source,
            copy.deepcopy(data["cursor"]),  # fresh objects (see _Accumulator.text)
            {key: n for (_, key), n in built.series.items()},
            records_read,
            unknown,
            malformed,
            dict(rejected),
            {pair: n for (_, pair), n in built.disagreements.items()},
            built.folded,
            dict(built.folded_labels),
        )


def _series_item(source: str, key: SeriesKey, value: int, plan: LabelPlan) -> dict[str, Any]:
    family, code, subcode, category, extra = key
    return {
        "source": source,
        "family": family,
        "code": code,
        "subcode": subcode,
        "category": category,
        "labels": dict(zip(plan.labels_of_key(family), extra, strict=True)),
        "value": value,
    }


def _disagreement_item(source: str, pair: DisagreementKey, value: int) -> dict[str, Any]:
    code, subcode, catalog_category, service_category = pair
    return {
        "source": source,
        "code": code,
        "subcode": subcode,
        "catalog_category": catalog_category,
        "service_category": service_category,
        "value": value,
    }


def _folded_label_items(folded: FoldedLabels) -> list[dict[str, Any]]:
    return [
        {"family": family, "label": label, "value": value}
        for (family, label), value in sorted(folded.items())
    ]


def _count(value: Any, what: object) -> int:
    count = int(value)
    if count < 0:
        raise ValueError(f"negative count {count} for {what}")
    # A new int, not the parsed one (see _Accumulator.text).
    return count + 0 if count > 256 else count


class _Accumulator:
    """Mutable totals while a checkpoint and its journal are read (one copy, not one per
    record). Label values are interned: 50k series share a few hundred distinct strings."""

    def __init__(self, plan: LabelPlan) -> None:
        self.plan = plan
        self.series: dict[StateKey, int] = {}
        self.sources: dict[str, tuple[list[int], Counter[str]]] = {}
        self.cursors: dict[str, Cursor] = {}
        self.folded = 0
        self.disagreements: dict[DisagreementStateKey, int] = {}
        self.folded_labels: Counter[tuple[str, str]] = Counter()
        self._texts: dict[str, str] = {}

    def add_series(self, source: str, item: Mapping[str, Any]) -> None:
        text = self.text
        family = text(item["family"])
        labels = item.get("labels") or {}
        extra = tuple(text(labels.get(n, "")) for n in self.plan.labels_of_key(family))
        category = text(item["category"])
        key: StateKey = (
            text(source),
            (family, text(item["code"]), text(item["subcode"]), category, extra),
        )
        self.series[key] = self.series.get(key, 0) + _count(item["value"], key)

    def text(self, value: object) -> str:
        """One shared copy of a label value. A copy, not the parsed string: one parsed object
        kept pins the allocator's memory of the whole parsed document (measured: ~1 kB of RSS
        per series never returned after loading 50k series)."""
        parsed = str(value)
        found = self._texts.get(parsed)
        if found is None:
            found = self._texts[parsed] = sys.intern((parsed + ".")[:-1])
        return found

    def add_counts(self, source: str, c: Mapping[str, Any]) -> None:
        totals, rejected = self.sources.setdefault(source, ([0, 0, 0], Counter()))
        for i, name in enumerate(("records_read", "unknown", "malformed")):
            totals[i] += _count(c[name], f"{name} of {source}")
        for reason, n in c["rejected"].items():
            rejected[self.text(reason)] += _count(n, f"rejected {reason} of {source}")

    def add_disagreement(self, source: str, item: Mapping[str, Any]) -> None:
        text = self.text
        pair: DisagreementStateKey = (
            source,
            (
                text(item["code"]),
                text(item["subcode"]),
                text(item["catalog_category"]),
                text(item["service_category"]),
            ),
        )
        count = _count(item["value"], f"disagreement {pair}")
        self.disagreements[pair] = self.disagreements.get(pair, 0) + count

    def add_folded_labels(self, items: Iterable[Mapping[str, Any]]) -> None:
        for item in items:
            self.folded_labels[(str(item["family"]), str(item["label"]))] += int(item["value"])

    def replay(self, change: Mapping[str, Any]) -> None:
        """Add one journal record (`Change.to_data`)."""
        source = self.text(change["source"])
        for item in change["series"]:
            self.add_series(source, item)
        self.add_counts(source, change)
        for item in change["disagreements"]:
            self.add_disagreement(source, item)
        if change["cursor"] is not None:
            self.cursors[source] = change["cursor"]
        self.folded += _count(change["folded"], "folded records")
        self.add_folded_labels(change["folded_labels"])

    def state(self) -> State:
        sources = {
            name: SourceCounts(totals[0], totals[1], totals[2], dict(rejected))
            for name, (totals, rejected) in self.sources.items()
        }
        return State(
            self.series,
            sources,
            copy.deepcopy(self.cursors),  # fresh objects (see `text`)
            self.folded,
            disagreements=self.disagreements,
            folded_labels=dict(self.folded_labels),
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
