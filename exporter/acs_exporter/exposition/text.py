"""A fast renderer of a Snapshot in the Prometheus text (0.0.4) and OpenMetrics (1.0) formats.

prometheus_client's encoders spend ~6 µs per sample checking and escaping every label name;
at 10,000 series that alone is past the 50 ms render budget. Snapshot families are immutable and
their label names are valid by construction, so this renderer writes the same bytes directly,
a family's lines in one join over its label and value columns. Its output is tested
byte for byte against prometheus_client's encoders over `SnapshotCollector`, which stays the
reference (and what any prometheus_client registry would use).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from itertools import chain, repeat
from operator import itemgetter
from typing import Final, cast

from prometheus_client import utils

from acs_exporter.definitions.metrics import END_REASON_INFO, sample_name
from acs_exporter.exposition.families import with_current_lag
from acs_exporter.exposition.snapshot import Family, HistogramValue, Snapshot

TEXT: Final = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS: Final = "application/openmetrics-text; version=1.0.0; charset=utf-8"

# prometheus_client's own float formatting (untyped there): Go's strconv style.
floatToGoString = cast(Callable[[float], str], utils.floatToGoString)


def _escape_value(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _needs_escape(labels: tuple[str, ...]) -> bool:
    joined = "".join(labels)  # one look for what needs escaping, not one per value
    return "\\" in joined or '"' in joined or "\n" in joined


class _Template:
    """The text of one sample name and label names around its label values and its value:
    `name{a="{}",b="{}"} {}\n`, with the labels in the order prometheus_client writes them
    (sorted by name), worked out once: as a format (one line) and as the text between the
    values (a whole family's lines in one join, `lines`).

    Lines are not cached per series: since the bytes of a snapshot are cached per format
    (rendered.py), a cache of every series' `name{labels}` only sped up the render after a
    poll, for ~500 bytes of memory a series (half the 1 kB per series budget, #12)."""

    __slots__ = ("_between", "_pick", "format", "order")

    def __init__(self, name: str, names: tuple[str, ...]) -> None:
        self.order = order = tuple(sorted(range(len(names)), key=names.__getitem__))
        # Braces cannot occur in a metric or label name; in a value they are format arguments.
        pairs = ",".join(f'{names[i]}="{{}}"' for i in order)
        self.format = (f"{name}{{{{{pairs}}}}}" if names else name) + " {}\n"
        # The text before each label value in order, then before the value.
        self._between = (
            [f'{name}{{{names[order[0]]}="', *(f'",{names[i]}="' for i in order[1:]), '"} ']
            if names
            else [f"{name} "]
        )
        self._pick: Callable[[tuple[str, ...]], tuple[str, ...]] = (
            itemgetter(*order) if len(order) > 1 else lambda values: tuple(values[i] for i in order)
        )

    def line(self, labels: tuple[str, ...], number: str | float) -> str:
        if _needs_escape(labels):
            return self.format.format(*[_escape_value(labels[i]) for i in self.order], number)
        return self.format.format(*self._pick(labels), number)

    def lines(self, samples: Iterable[tuple[tuple[str, ...], object]], out: list[str]) -> None:
        """All the samples' lines, as one string appended to `out`. Joined column by column
        (the text between the values, each label's values, the values): no Python code and no
        string of its own per line."""
        samples = tuple(samples)
        if not samples:
            return
        columns = list(zip(*map(_LABELS, samples), strict=True))
        parts: list[Iterable[str]] = []
        for between, i in zip(self._between, self.order, strict=False):
            parts += [repeat(between), _escaped(columns[i])]
        numbers = _numbers(list(map(float, map(_VALUE, samples))))
        parts += [repeat(self._between[-1]), numbers, repeat("\n")]
        # The repeat()s are endless; the columns, all as long as the samples, end the zip.
        out.append("".join(chain.from_iterable(zip(*parts, strict=False))))


def _escaped(column: tuple[str, ...]) -> tuple[str, ...]:
    """One label's values, escaped: one look at the whole column for what needs it."""
    joined = "".join(column)
    if "\\" in joined or '"' in joined or "\n" in joined:
        return tuple(map(_escape_value, column))
    return column


_LABELS = itemgetter(0)
_VALUE = itemgetter(1)


@lru_cache(maxsize=1024)
def _template(name: str, names: tuple[str, ...]) -> _Template:
    return _Template(name, names)


def _numbers(values: list[float]) -> Iterable[str]:
    """`values` as `_number` writes them. When all are finite and within +-1e6 (counts, nearly
    always) that is their repr: checked in three C-level passes, not one Python call each."""
    if not values or (math.isfinite(sum(values)) and min(values) > -1e6 and max(values) < 1e6):
        return map(repr, values)
    return map(_number, values)


def _number(value: float) -> str:
    # repr() is what floatToGoString returns for these; it is the common case, and cheaper.
    if -1e6 < value < 1e6 and value == value:  # noqa: PLR0124 (NaN check)
        return repr(float(value))
    return floatToGoString(value)


def _bound(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else floatToGoString(bound)


# acs_end_reason_info: thousands of long, constant lines that change only when a new end reason
# is observed (end_reason_info.py hands out the same samples tuple until then). Their text is
# kept per samples object (held, so its id cannot be reused), one per format.
INFO_FAMILY: Final = END_REASON_INFO.name
_static_text: dict[tuple[int, str], tuple[object, str]] = {}


def _samples(family: Family, out: list[str]) -> None:
    if family.name == INFO_FAMILY:
        key = (id(family.samples), family.kind)
        cached = _static_text.get(key)
        if cached is None or cached[0] is not family.samples:
            lines: list[str] = []
            _all_samples(family, lines)
            if len(_static_text) >= 4:
                _static_text.clear()
            cached = _static_text[key] = (family.samples, "".join(lines))
        out.append(cached[1])
        return
    _all_samples(family, out)


def _all_samples(family: Family, out: list[str]) -> None:
    names = family.label_names
    if family.kind != "histogram":
        _template(sample_name(family.name, family.kind), names).lines(family.samples, out)
        return
    bucket = _template(family.name + "_bucket", (*names, "le"))
    count = _template(family.name + "_count", names)
    total = _template(family.name + "_sum", names)
    for labels, value in family.samples:
        if not isinstance(value, HistogramValue):
            continue
        for bound, n in value.buckets:
            out.append(bucket.line((*labels, _bound(bound)), _number(n)))
        out.append(count.line(labels, _number(value.count)))
        out.append(total.line(labels, _number(value.total)))


def _families(snapshot: Snapshot, now: float | None) -> tuple[Family, ...]:
    return with_current_lag(snapshot.families, time.time() if now is None else now)


def render_text(snapshot: Snapshot, now: float | None = None) -> str:
    return text_of(_families(snapshot, now))


def render_openmetrics(snapshot: Snapshot, now: float | None = None) -> str:
    """Without the final `# EOF`, so that other collectors' output can follow."""
    return openmetrics_of(_families(snapshot, now))


def text_of(families: Iterable[Family]) -> str:
    """`families` in the text format, as given (no cursor lag is computed here)."""
    out: list[str] = []
    for family in families:
        name = sample_name(family.name, family.kind)
        kind = "gauge" if family.kind == "info" else family.kind
        doc = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {kind}\n")
        _samples(family, out)
    return "".join(out)


def openmetrics_of(families: Iterable[Family]) -> str:
    """`families` in OpenMetrics, as given and without the final `# EOF`."""
    out: list[str] = []
    for family in families:
        doc = family.documentation.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
        out.append(f"# HELP {family.name} {doc}\n# TYPE {family.name} {family.kind}\n")
        _samples(family, out)
    return "".join(out)
