"""The cardinality guard: how many series data can make, whatever values it carries.

Generic over families: a family's series are keyed by a tuple of label values, some of them
from data (end codes, call types, operation names: unbounded) and some bounded by the exporter
itself (the category, one of five). A data value longer than MAX_VALUE_LENGTH is always
`other`. Until `limit` series are counted, every new series is admitted as it is. Past it, a
new series is folded (docs/metrics.md, "Cardinality"):

1. each data label whose value no counted series of the family has yet becomes `other`, the
   rest keep their values (a flood of new call types keeps its end codes);
2. that series is counted if it exists, or created while fewer than `limit + headroom` series
   are counted (headroom: a tenth of the limit, at least one);
3. otherwise every data label becomes `other`: one such series per family, bounded label
   combination (category) and group (source), created whenever needed.

A series already counted is never folded (its counts never move); only new ones are. The
caller counts what was folded per label from `Placement.folded`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

OTHER: Final = "other"
# A data label value longer than this is never exported (the series count does not bound the
# size of a scrape when one call type is a 500 KB string): it is `other`, whatever the limit.
MAX_VALUE_LENGTH: Final = 256

Values = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Placement:
    values: Values  # the label values the increment is counted under
    folded: tuple[int, ...]  # positions whose value was replaced by `other`


class SeriesGuard:
    """Places new series of one batch; built per batch over the series counted before it."""

    def __init__(self, limit: int, counted: Callable[[], Iterable[tuple[str, Values]]]) -> None:
        """`counted` lists (family, values) of every counted series; it is read only once the
        limit is reached, to learn which values each family's labels already have."""
        self.limit = limit
        self.headroom = max(1, limit // 10)
        self._counted = counted
        self._seen: dict[str, list[set[str]]] | None = None

    def place(
        self,
        family: str,
        values: Values,
        foldable: Sequence[bool],
        exists: Callable[[Values], bool],
        size: int,
    ) -> Placement:
        """Where a new series (`values`, not counted yet) goes, with `size` series counted.

        `foldable[i]` is True for the labels whose values come from data."""
        folded: list[int] = []
        if any(len(v) > MAX_VALUE_LENGTH for v in values):
            folded = [i for i, v in enumerate(values) if foldable[i] and len(v) > MAX_VALUE_LENGTH]
            values = _fold(values, folded)
            if folded and exists(values):
                return Placement(values, tuple(folded))
        if size < self.limit:
            return Placement(values, tuple(folded))
        seen = self._index().get(family)
        # Data labels not `other` yet, and those of them whose value is new to the family.
        rest = [i for i, v in enumerate(values) if foldable[i] and v != OTHER]
        fresh = [i for i in rest if seen is None or values[i] not in seen[i]]
        if fresh and len(fresh) < len(rest):  # folding only the new values keeps some labels
            partly = _fold(values, fresh)
            if exists(partly) or size < self.limit + self.headroom:
                return Placement(partly, tuple(sorted(folded + fresh)))
        # Nothing new needs noting in the index: a folded series' values are seen ones or other.
        return Placement(_fold(values, rest), tuple(sorted(folded + rest)))

    def _index(self) -> dict[str, list[set[str]]]:
        """Per family, per label position, the values counted series have (built once)."""
        if self._seen is None:
            self._seen = {}
            for family, values in self._counted():
                sets = self._seen.setdefault(family, [set() for _ in values])
                for known, value in zip(sets, values, strict=False):
                    known.add(value)
        return self._seen


def _fold(values: Values, positions: Iterable[int]) -> Values:
    folded = list(values)
    for i in positions:
        folded[i] = OTHER
    return tuple(folded)
