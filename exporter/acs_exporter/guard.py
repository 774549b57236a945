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
        original = values
        overlong = [i for i, v in enumerate(values) if foldable[i] and len(v) > MAX_VALUE_LENGTH]
        if overlong:
            values = _fold(values, overlong)
            if exists(values):
                return self._placed(family, original, values)
        if size < self.limit:
            return self._placed(family, original, values)
        seen = self._seen_in(family, len(values))
        fresh = [i for i, v in enumerate(values) if foldable[i] and v not in seen[i]]
        everything = _fold(values, [i for i in range(len(values)) if foldable[i]])
        if fresh:
            partly = _fold(values, fresh)
            if partly != everything and (exists(partly) or size < self.limit + self.headroom):
                return self._placed(family, original, partly)
        return self._placed(family, original, everything)

    def _placed(self, family: str, original: Values, values: Values) -> Placement:
        self._note(family, values)
        folded = tuple(i for i, (a, b) in enumerate(zip(original, values, strict=True)) if a != b)
        return Placement(values, folded)

    def _seen_in(self, family: str, width: int) -> list[set[str]]:
        if self._seen is None:
            self._seen = {}
            for fam, values in self._counted():
                self._note(fam, values, building=True)
        return self._seen.setdefault(family, [set() for _ in range(width)])

    def _note(self, family: str, values: Values, building: bool = False) -> None:
        if self._seen is None and not building:
            return  # not indexed yet: the index, when built, reads every counted series
        assert self._seen is not None
        sets = self._seen.setdefault(family, [set() for _ in values])
        for known, value in zip(sets, values, strict=False):
            known.add(value)


def _fold(values: Values, positions: Iterable[int]) -> Values:
    folded = list(values)
    for i in positions:
        folded[i] = OTHER
    return tuple(folded)
