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
from typing import Final, cast

from prometheus_client import utils

from acs_exporter.definitions.metrics import END_REASON_INFO, sample_name
from acs_exporter.exposition.families import with_current_lag
from acs_exporter.exposition.snapshot import Family, HistogramValue, Snapshot

TEXT: Final = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS: Final = "application/openmetrics-text; version=1.0.0; charset=utf-8"

# prometheus_client's own float formatting (untyped there): Go's strconv style.
floatToGoString = cast(Callable[[float], str], utils.floatToGoString)

# (sample name, label names, label values) -> 'name{a="x",b="y"}'
_prefixes: dict[tuple[str, tuple[str, ...], tuple[str, ...]], str] = {}
_MAX_PREFIXES = 200_000


def _escape_value(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _prefix(name: str, names: tuple[str, ...], values: tuple[str, ...]) -> str:
    key = (name, names, values)
    prefix = _prefixes.get(key)
    if prefix is None:
        if names:
            pairs = sorted(zip(names, values, strict=True))
            prefix = name + "{" + ",".join(f'{k}="{_escape_value(v)}"' for k, v in pairs) + "}"
        else:
            prefix = name
        if len(_prefixes) >= _MAX_PREFIXES:
            _prefixes.clear()
        _prefixes[key] = prefix
    return prefix


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
    name = sample_name(family.name, family.kind)
    for labels, value in family.samples:
        out.append(f"{_prefix(name, names, labels)} {_number(value)}\n")  # type: ignore[arg-type]


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
