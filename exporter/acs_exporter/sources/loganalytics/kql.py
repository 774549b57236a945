"""The KQL one poll runs: a window on `ingestion_time()`, aggregated in the query or raw.

Windows are half-open on ingestion time, `(start, end]`, so consecutive windows are disjoint and
every record falls in exactly one of them however late it arrives. `TimeGenerated` gets a wide
lower bound only so the engine can skip old partitions. Literals carry all 7 fractional digits:
the window start is an exclusive watermark taken from the data itself.

Every query returns `Ingested`, the (latest) ingestion time of its rows as a string at full
precision, so the cursor can be moved to exactly what was read. Codes stay as the service wrote
them (ParticipantEndReason is a string that may be junk); the catalog parses them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Literal

from acs_exporter.definitions.tables import RESULT_CATEGORY, RESULT_CODE, RESULT_SUBCODE, LogTable
from acs_exporter.sources.loganalytics.timestamps import (
    format_ticks,
    parse_ticks,
    ticks_from_timedelta,
)

Mode = Literal["aggregated", "raw"]


def key_columns(
    table: LogTable, labels: tuple[str, ...], mode: Mode = "raw"
) -> tuple[tuple[str, str], ...]:
    """(result column, source expression) for code, subcode, service category, the fixed
    dimensions and the opt-in `labels`, in result order.

    A normalised dimension (resource, sdk_version, os) is its KQL rule when the query
    aggregates, so it groups by the label value (one row per series); a raw query returns
    the column as logged and the source applies the same rule's Python side."""
    keys = [(RESULT_CODE, table.code.pascal), (RESULT_SUBCODE, table.subcode.pascal)]
    if table.service_category is not None:
        keys.append((RESULT_CATEGORY, table.service_category.pascal))
    dims = (*table.fixed, *(table.dimension(label) for label in labels))
    for dim in dims:
        rule = dim.normalise
        column = dim.column.pascal
        keys.append((dim.result, rule.kql(column) if rule and mode == "aggregated" else column))
    return tuple(keys)


@dataclass(frozen=True)
class Window:
    """`(start, end]` on ingestion time, as ticks (100 ns since the Unix epoch)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"window ends before it starts: {self}")

    @classmethod
    def from_text(cls, start: str, end: str) -> Window:
        return cls(parse_ticks(start), parse_ticks(end))

    @property
    def empty(self) -> bool:
        return self.end == self.start

    def split(self) -> tuple[Window, Window]:
        middle = self.start + (self.end - self.start) // 2
        return Window(self.start, middle), Window(middle, self.end)

    def __str__(self) -> str:
        return f"({format_ticks(self.start)}, {format_ticks(self.end)}]"


@dataclass(frozen=True)
class QuerySpec:
    """What to ask one table; independent of the window. `labels` are the table's opt-in
    dimensions to group by (its fixed ones are always grouped by)."""

    table: LogTable
    mode: Mode = "aggregated"
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        optional = {d.label for d in self.table.optional}
        unknown = [label for label in self.labels if label not in optional]
        if unknown:
            raise ValueError(
                f"labels {tuple(unknown)} are not columns of {self.table.name} "
                f"(it has {tuple(sorted(optional))})"
            )

    @property
    def dimension_labels(self) -> tuple[str, ...]:
        """The label name of each dimension column, in result order."""
        return (*(d.label for d in self.table.fixed), *self.labels)

    @cached_property
    def reader_rules(self) -> tuple[Callable[[object], str] | None, ...]:
        """Per dimension column, the Python rule the reader applies to its value: a raw query
        returns normalised dimensions as logged; an aggregated one has applied the KQL rule."""
        dims = (*self.table.fixed, *(self.table.dimension(label) for label in self.labels))
        if self.mode == "aggregated":
            return tuple(None for _ in dims)
        return tuple(None if d.normalise is None else d.normalise.python for d in dims)

    @property
    def has_category(self) -> bool:
        return self.table.service_category is not None

    def result_columns(self) -> tuple[str, ...]:
        """The columns of the result, in order (checked against the language service in tests)."""
        keys = tuple(name for name, _ in key_columns(self.table, self.labels))
        if self.mode == "aggregated":
            return (*keys, "n", "Ingested")
        return (*keys, "Ingested")

    def render(self, window: Window, *, lookback: timedelta) -> str:
        """The KQL text."""
        start = format_ticks(window.start)
        end = format_ticks(window.end)
        pruning = format_ticks(window.start - ticks_from_timedelta(lookback))
        keys = key_columns(self.table, self.labels, self.mode)
        group = ", ".join(name if name == expr else f"{name} = {expr}" for name, expr in keys)
        lines = [
            f"// acs-exporter: {self.table.name}, {self.mode}, ingestion window ({start}, {end}]",
            self.table.name,
            f"| where TimeGenerated > datetime({pruning})",
            f"| where ingestion_time() > datetime({start}) and ingestion_time() <= datetime({end})",
        ]
        if self.mode == "aggregated":
            lines += [
                f"| summarize n = count(), Ingested = max(ingestion_time()) by {group}",
                "| extend Ingested = tostring(Ingested)",
            ]
        else:
            lines.append(f"| project {group}, Ingested = tostring(ingestion_time())")
        return "\n".join(lines)


def timespan(window: Window, *, lookback: timedelta) -> str:
    """The REST `timespan`: must cover the TimeGenerated bound (the service intersects them).

    It stays open-ended to the future (records may be stamped ahead of ingestion) by ending a
    day after the window. A record stamped more than a day after its ingestion (a bad clock
    upstream) is therefore outside every query: a documented limit (docs/loganalytics.md,
    docs/operations.md). A later end would most likely cost no scan (the engine prunes by the
    `TimeGenerated` lower bound; little data is stamped in the future), but how the service
    treats a timespan ending far ahead is not verified against it, so the bound stays.
    """
    start = format_ticks(window.start - ticks_from_timedelta(lookback))
    end = format_ticks(window.end + ticks_from_timedelta(timedelta(days=1)))
    return f"{start}/{end}"
