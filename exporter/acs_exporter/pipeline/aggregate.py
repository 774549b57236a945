"""From a source's observations to per-series increments (the hot path).

Identical raw end reasons are counted first (a C-speed `Counter` over the observation tuples),
then each distinct raw key is resolved through the catalog once and the result cached, so the
cost grows with distinct end reasons, not with records. Malformed codes keep their call under the
`malformed` label; codes the catalog does not know land in category `Unknown`. Both are counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal

from acs_exporter.catalog import (
    Catalog,
    Category,
    Domain,
    MalformedCode,
    Provenance,
    Resolution,
    normalise_category,
    parse_code,
    parse_subcode,
)
from acs_exporter.definitions.raw_values import rememberable
from acs_exporter.definitions.tables import LabelPlan, LogTable, counted
from acs_exporter.pipeline.reasons import DaemonRejection
from acs_exporter.sources.base import Batch, Observation

log = logging.getLogger("acs_exporter.pipeline.aggregate")

MALFORMED: Final = "malformed"
# The subcode label of a record without one (null, absent, "" or blanks): a value of its own,
# never "malformed" (docs/metrics.md). Not a number, so it cannot collide with a real subcode.
NO_SUBCODE: Final = "none"
OTHER: Final = "other"

# (table's state_key, code label, subcode label, category, extra label values in the plan's
# order for that table)
SeriesKey = tuple[str, str, str, str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Resolved:
    code: str
    subcode: str
    category: str
    malformed: bool
    # (catalog category, service category) when the documented row and the service disagree
    disagreement: tuple[str, str] | None = None

    @property
    def unknown(self) -> bool:
        return self.category == Category.UNKNOWN.value


# (code label, subcode label, catalog category, service category) of a call end on which the
# documented row and the service's ResultCategory disagree. Both categories come from the closed
# set of four valid ones, and the pair is always a documented one (only documented rows can
# disagree: elsewhere the service's category is the answer), so these series are bounded by the
# catalog, not by the data.
DisagreementKey = tuple[str, str, str, str]

# Which verdict sets the `category` label when a documented row and the service disagree
# (`metrics.category_source`, docs/configuration.md).
CategorySource = Literal["catalog", "service"]
CATEGORY_SOURCES: Final[tuple[CategorySource, ...]] = ("catalog", "service")


class Resolver:
    """Catalog resolution to label values, cached per distinct raw key: the only resolution
    cache (the catalog keeps none), so a repeated key costs one dictionary access and a new
    key one catalog resolution, the verdict included."""

    # A source full of garbage must not grow the cache without bound; resolving again is cheap.
    MAX_CACHE = 100_000
    # Nor may long junk in a key: codes and subcodes are a few digits and the service's
    # categories are words of under 30 letters, so at most 100,000 x 3 x 64 characters are kept
    # (definitions/raw_values.py).
    MAX_KEY_CHARS = 64

    def __init__(self, catalog: Catalog, category_source: CategorySource = "catalog") -> None:
        if category_source not in CATEGORY_SOURCES:
            raise ValueError(
                f"category_source must be one of {CATEGORY_SOURCES}, got {category_source!r}"
            )
        self._catalog = catalog
        self._category_source = category_source
        self._cache: dict[tuple[object, object, str | None, Domain], Resolved] = {}

    def resolve(
        self, code: object, subcode: object, service_category: str | None, domain: Domain
    ) -> Resolved:
        # Only exact str/int/None codes are remembered: True == 1 and 487.0 == 487 hash alike,
        # and must still be labelled malformed rather than answered from the entry of 1 or 487.
        if not (
            (type(code) is str or type(code) is int)
            and (subcode is None or type(subcode) is str or type(subcode) is int)
        ):
            return self._resolved(code, subcode, service_category, domain)
        key = (code, subcode, service_category, domain)
        try:
            return self._cache[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable service category (a list from JSON): not one
            return self._resolved(code, subcode, service_category, domain)
        resolved = self._resolved(code, subcode, service_category, domain)
        # Checked on a miss only: a hit is a key short enough to have been kept.
        if rememberable(self.MAX_KEY_CHARS, code, subcode, service_category):
            if len(self._cache) >= self.MAX_CACHE:
                self._cache.clear()
            self._cache[key] = resolved
        return resolved

    def _resolved(
        self, code: object, subcode: object, service_category: str | None, domain: Domain
    ) -> Resolved:
        """One catalog resolution of a raw key, with its verdict."""
        # A missing subcode (None, "", blanks) is not malformed: the catalog resolves it from
        # the service's category, then the code (docs/catalog.md).
        try:
            number = parse_code(code)
        except MalformedCode:
            return self._malformed_code(subcode, service_category)
        try:
            sub = parse_subcode(subcode)
        except MalformedCode:
            resolution = self._catalog.resolve_code_alone(number, service_category, domain)
            return Resolved(str(number), MALFORMED, resolution.category.value, True)
        resolution = self._catalog.resolve(number, sub, service_category, domain)
        label = NO_SUBCODE if resolution.subcode is None else str(resolution.subcode)
        return self._with_verdict(
            Resolved(str(resolution.code), label, resolution.category.value, False), resolution
        )

    @staticmethod
    def _malformed_code(subcode: object, service_category: str | None) -> Resolved:
        said = normalise_category(service_category)  # same casing tolerance as the catalog
        category = Category.UNKNOWN.value if said is None else said.value
        return Resolved(MALFORMED, _subcode_label(subcode), category, True)

    def _with_verdict(self, resolved: Resolved, resolution: Resolution) -> Resolved:
        """Note a disagreement between the documented row and the service's category, and
        let `category_source` decide which of the two the `category` label carries.

        Only a documented (code, subcode) row can disagree with the service: for every other
        pair the catalog already takes the service's valid category (docs/catalog.md). The
        documented row decides before the service's word, so the resolution says both.
        """
        service = resolution.service_category
        documented = resolution.category
        if (
            service is None
            or resolution.provenance is not Provenance.DOCUMENTED
            or documented is service
        ):
            return resolved
        chosen = service if self._category_source == "service" else documented
        return replace(
            resolved, category=chosen.value, disagreement=(documented.value, service.value)
        )


def _subcode_label(value: object) -> str:
    try:
        subcode = parse_subcode(value)
    except MalformedCode:
        return MALFORMED
    return NO_SUBCODE if subcode is None else str(subcode)


@dataclass
class Delta:
    """What one batch adds: per-series increments and the source's accounting."""

    series: Counter[SeriesKey] = field(default_factory=Counter)
    records_read: int = 0
    unknown: int = 0
    malformed: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    disagreements: Counter[DisagreementKey] = field(default_factory=Counter)
    # Each family's extra label names (the plan's), so the guard can name what it folds.
    label_names: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (self.series or self.records_read or self.rejected)


RawKey = tuple[object, object, str | None, tuple[tuple[str, str], ...]]


def count_raw(
    observations: Sequence[Observation], negative: Counter[RawKey] | None = None
) -> Iterable[tuple[RawKey, int]]:
    """Total `n` per distinct (code, subcode, service_category, dimensions).

    An observation with a negative `n` is not a number of records: it is left out of the
    totals (so it cannot cancel other records) and counted, once, in `negative`.
    """
    totals: Counter[RawKey] = Counter()
    rejected: Counter[RawKey] = Counter() if negative is None else negative
    try:
        distinct = Counter(observations)
    except TypeError:  # an unhashable raw value somewhere: count one by one
        for obs in observations:
            key = (_hashable(obs.code), _hashable(obs.subcode), obs[2], obs[3])
            if obs.n < 0:
                rejected[key] += 1
            else:
                totals[key] += obs.n
        return totals.items()
    for obs, times in distinct.items():
        if obs[4] < 0:
            rejected[(obs[0], obs[1], obs[2], obs[3])] += times
        else:
            totals[(obs[0], obs[1], obs[2], obs[3])] += obs[4] * times
    return totals.items()


def _hashable(value: object) -> object:
    try:
        hash(value)
    except TypeError:
        return repr(value)  # never a valid code: it will be labelled malformed
    return value


def summarise(batch: Batch, resolver: Resolver, plan: LabelPlan) -> Delta:
    delta = Delta(
        # Plain str keys: a reason may be a StrEnum member, and the checkpoint (orjson) takes str.
        rejected=Counter({str(k): v for k, v in batch.rejected.items() if v}),
        label_names={t.state_key: plan.labels_for(t) for t in counted()},
    )
    for table, observations in batch.observations.items():
        if observations:
            _summarise_table(delta, table, observations, resolver, plan.labels_for(table))
    return delta


def _summarise_table(
    delta: Delta,
    table: LogTable,
    observations: Sequence[Observation],
    resolver: Resolver,
    labels: tuple[str, ...],
) -> None:
    family, domain, accounted = table.state_key, table.domain, table.accounted
    negative: Counter[RawKey] = Counter()
    for (code, subcode, service_category, dimensions), n in count_raw(observations, negative):
        if n <= 0:
            continue
        resolved = resolver.resolve(code, subcode, service_category, domain)
        dims = dict(dimensions) if dimensions else {}
        extra = tuple(dims.get(label, "") for label in labels)
        delta.series[(family, resolved.code, resolved.subcode, resolved.category, extra)] += n
        delta.records_read += n
        if accounted:
            _account(delta, resolved, n)
    if negative:
        _reject_negative(delta, table, negative)


def _account(delta: Delta, resolved: Resolved, n: int) -> None:
    """The unknown / malformed / disagreement self-metrics (tables with `accounted`)."""
    if resolved.unknown:
        delta.unknown += n
    if resolved.malformed:
        delta.malformed += n
    if resolved.disagreement is not None:
        catalog_category, service = resolved.disagreement
        delta.disagreements[(resolved.code, resolved.subcode, catalog_category, service)] += n


def _reject_negative(delta: Delta, table: LogTable, negative: Counter[RawKey]) -> None:
    # Not a number of records: rejected (reasons.DAEMON_REJECTIONS), never dropped in silence.
    delta.rejected[DaemonRejection.INVALID_COUNT.value] += sum(negative.values())
    code, subcode, _category, _dims = next(iter(negative))
    log.warning(
        "observations with a negative count rejected",
        extra={
            "table": table.state_key,
            "observations": sum(negative.values()),
            "first_code": repr(code),
            "first_subcode": repr(subcode),
        },
    )
