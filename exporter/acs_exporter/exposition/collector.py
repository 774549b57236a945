"""A prometheus_client collector over the current immutable Snapshot.

Each scrape takes one reference to the Snapshot (the daemon swaps it whole), so a scrape never
waits on a source and never sees half an update. Metric families are built fresh per scrape;
samples are created directly rather than through `add_metric`, which matters at 10,000 series.
The cursor lag depends on the moment of the scrape: it is computed then (with_current_lag).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import cast

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from acs_exporter.definitions.metrics import sample_name
from acs_exporter.exposition.families import with_current_lag
from acs_exporter.exposition.snapshot import Family, HistogramValue, Snapshot


class SnapshotCollector(Collector):
    def __init__(
        self, snapshot: Callable[[], Snapshot], clock: Callable[[], float] = time.time
    ) -> None:
        self._snapshot = snapshot
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        for family in with_current_lag(self._snapshot().families, self._clock()):
            yield to_metric(family)


def to_metric(family: Family) -> Metric:
    metric = Metric(family.name, family.documentation, family.kind)
    names = family.label_names
    # Counters and gauges only ever hold floats; histograms are handled apart.
    scalars = cast(tuple[tuple[tuple[str, ...], float], ...], family.samples)
    if family.kind == "counter":
        counter = sample_name(family.name, family.kind)
        metric.samples = [
            Sample(counter, dict(zip(names, labels, strict=True)), value, None, None)
            for labels, value in scalars
        ]
    elif family.kind == "histogram":
        for labels, value in family.samples:
            if isinstance(value, HistogramValue):
                metric.samples.extend(_histogram_samples(family.name, names, labels, value))
    else:
        metric.samples = [
            Sample(family.name, dict(zip(names, labels, strict=True)), value, None, None)
            for labels, value in scalars
        ]
    return metric


def _histogram_samples(
    name: str, names: tuple[str, ...], labels: tuple[str, ...], value: HistogramValue
) -> list[Sample]:
    base = dict(zip(names, labels, strict=True))
    samples = [
        Sample(name + "_bucket", {**base, "le": _bound(bound)}, float(count), None, None)
        for bound, count in value.buckets
    ]
    samples.append(Sample(name + "_count", base, float(value.count), None, None))
    samples.append(Sample(name + "_sum", base, value.total, None, None))
    return samples


def _bound(bound: float) -> str:
    if math.isinf(bound):
        return "+Inf"
    return repr(float(bound))
