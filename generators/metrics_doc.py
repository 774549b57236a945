"""docs/metrics.md's two metric tables, generated from acs_exporter.definitions.metrics.

Each table sits between a pair of marker comments; the prose around them is written by hand.
`make docs` rewrites the tables in place; `--check` only says whether they are stale (the
suite's drift test does the same), so a family added or renamed in metric_defs reaches the
documentation through this file, never by hand.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from acs_exporter.definitions.metrics import ALL, MetricDef

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "metrics.md"

_HEADER = "| metric | type | labels | meaning |\n|---|---|---|---|\n"
_END = "<!-- end of generated table -->"


def _begin(group: str) -> str:
    return (
        f"<!-- generated from metric_defs by `make docs` (generators/metrics_doc.py): {group} -->"
    )


def _is_self_metric(metric: MetricDef) -> bool:
    return metric.name.startswith("acs_exporter_")


# Each table: its marker name and the families it lists, in metric_defs.ALL's order.
GROUPS: dict[str, tuple[MetricDef, ...]] = {
    "call outcomes": tuple(m for m in ALL if not _is_self_metric(m)),
    "the exporter itself": tuple(m for m in ALL if _is_self_metric(m)),
}


def _kind(metric: MetricDef) -> str:
    # An info family is a gauge whose only value is 1 (the writing-exporters guide's pattern).
    return f"{metric.kind} (=1)" if metric.name.endswith("_info") else metric.kind


def _labels(metric: MetricDef) -> str:
    values = dict(metric.label_values)
    unknown = set(values) - set(metric.labels)
    if unknown:
        raise ValueError(f"{metric.name}: label_values names labels it lacks: {sorted(unknown)}")
    cells = [
        f"`{label}` ({values[label]})" if label in values else f"`{label}`"
        for label in metric.labels
    ]
    text = ", ".join(cells)
    if metric.optional_labels:
        optional = ", ".join(f"`{label}`" for label in metric.optional_labels)
        text += f" (+ optional {optional})"
    return text


def row(metric: MetricDef) -> str:
    if not metric.doc:
        raise ValueError(f"{metric.name} has no doc text (metric_defs: doc=...)")
    labels = _labels(metric)
    return (
        f"| `{metric.sample}` | {_kind(metric)} | {labels + ' ' if labels else ''}| {metric.doc} |"
    )


def table(metrics: Iterable[MetricDef]) -> str:
    return _HEADER + "".join(row(metric) + "\n" for metric in metrics)


def render(text: str) -> str:
    """`text` (docs/metrics.md) with every generated table rewritten from metric_defs."""
    for group, metrics in GROUPS.items():
        begin = _begin(group)
        head, found, rest = text.partition(begin + "\n")
        if not found or _END not in rest:
            raise ValueError(f"{DOC.name}: no {begin!r} ... {_END!r} block")
        text = head + begin + "\n" + table(metrics) + _END + rest.split(_END, 1)[1]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the tables are stale")
    args = parser.parse_args(argv)
    current = DOC.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print(f"{DOC}: metric tables are stale; run `make docs`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
