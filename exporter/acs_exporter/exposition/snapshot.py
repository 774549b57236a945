"""An immutable picture of everything the exporter exposes.

The pipeline builds a new Snapshot after each applied (and persisted) batch and swaps one
reference; the Prometheus collector and the OTLP exporter only ever read a whole Snapshot. So a
scrape never waits on a source and never sees half an update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram", "info"]


@dataclass(frozen=True, slots=True)
class HistogramValue:
    # Cumulative counts per upper bound, the last bound being +Inf.
    buckets: tuple[tuple[float, int], ...]
    total: float
    count: int


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family. For counters `name` has no `_total` suffix (as in prometheus_client)."""

    name: str
    documentation: str
    kind: Kind
    label_names: tuple[str, ...]
    # (label values in label_names order, value)
    samples: tuple[tuple[tuple[str, ...], float | HistogramValue], ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    families: tuple[Family, ...] = ()
