"""A fast renderer of a Snapshot in the Prometheus text (0.0.4) and OpenMetrics (1.0) formats.

prometheus_client's encoders spend ~6 µs per sample checking and escaping every label name;
at 10,000 series that alone is past the 50 ms render budget. Snapshot families are immutable and
their label names are valid by construction, so this renderer writes the same bytes directly,
reusing the `name{labels}` prefix of a series from one scrape to the next. Its output is tested
byte for byte against prometheus_client's encoders over `SnapshotCollector`, which stays the
reference (and what any prometheus_client registry would use).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
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

_MAX_PREFIXES = 200_000


def _escape_value(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


class _Prefixes:
    """The `name{a="x",b="y"}` prefixes of one sample name and label names, by label values.

    The label order (sorted by name, as prometheus_client writes them) and the text around the
    values are worked out once per sample name, so a new series costs one str.format (a cold
    render of 10,000 series builds 10,000 of them)."""

    __slots__ = ("_pick", "by_values", "order", "template")

    def __init__(self, name: str, names: tuple[str, ...]) -> None:
        self.order = tuple(sorted(range(len(names)), key=names.__getitem__))
        # Braces cannot occur in a metric or label name; in a value they are format arguments.
        pairs = ",".join(f'{names[i]}="{{}}"' for i in self.order)
        self.template = f"{name}{{{{{pairs}}}}}" if names else name
        self.by_values: dict[tuple[str, ...], str] = {}
        order = self.order
        self._pick: Callable[[tuple[str, ...]], tuple[str, ...]] = (
            itemgetter(*order) if len(order) > 1 else lambda values: tuple(values[i] for i in order)
        )

    def add(self, values: tuple[str, ...]) -> str:
        if _cached[0] >= _MAX_PREFIXES:
            clear_prefixes()
        joined = "".join(values)  # one look for what needs escaping, not one per value
        if "\\" in joined or '"' in joined or "\n" in joined:
            prefix = self.template.format(*[_escape_value(values[i]) for i in self.order])
        else:
            prefix = self.template.format(*self._pick(values))
        self.by_values[values] = prefix
        _cached[0] += 1
        return prefix


# (sample name, label names) -> their prefixes; _cached counts the prefixes held in all.
_prefixes: dict[tuple[str, tuple[str, ...]], _Prefixes] = {}
_cached = [0]


def clear_prefixes() -> None:
    """Forget every prefix (the bound on memory; benchmarks of a first render)."""
    _prefixes.clear()
    _cached[0] = 0


def _group(name: str, names: tuple[str, ...]) -> _Prefixes:
    group = _prefixes.get((name, names))
    if group is None:
        group = _prefixes[(name, names)] = _Prefixes(name, names)
    return group


def _prefix(name: str, names: tuple[str, ...], values: tuple[str, ...]) -> str:
    group = _group(name, names)
    return group.by_values.get(values) or group.add(values)


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
    if family.kind == "histogram":
        for labels, value in family.samples:
            if not isinstance(value, HistogramValue):
                continue
            bucket_names = (*names, "le")
            for bound, count in value.buckets:
                prefix = _prefix(family.name + "_bucket", bucket_names, (*labels, _bound(bound)))
                out.append(f"{prefix} {_number(count)}\n")
            out.append(f"{_prefix(family.name + '_count', names, labels)} {_number(value.count)}\n")
            out.append(f"{_prefix(family.name + '_sum', names, labels)} {_number(value.total)}\n")
        return
    group = _group(sample_name(family.name, family.kind), names)
    known = group.by_values.get
    for labels, value in family.samples:
        prefix = known(labels) or group.add(labels)
        out.append(f"{prefix} {_number(value)}\n")  # type: ignore[arg-type]


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
