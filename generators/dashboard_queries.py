"""Every PromQL query of a dashboard JSON, with Grafana's variables substituted, for checking.

Used by the tests (every query parses; on a real Prometheus, every query returns data).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Grafana's built-in interval variables, as a dashboard over the last few minutes would set them.
BUILTIN_INTERVALS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "5m",
}
# `$1` is no variable (Grafana has none of that name and leaves it): label_replace's group.
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$([A-Za-z_]\w*)|\[\[(\w+)\]\]")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)\s*$", re.S)


@dataclass(frozen=True)
class Query:
    dashboard: str
    where: str  # panel title, "variable job" or "annotation ACS pages"
    expr: str  # as written in the dashboard, with variables
    kind: str  # "panel", "variable" (label_values selector) or "annotation"
    label: str | None = None  # for variables: the label whose values are listed

    def substituted(self, values: Mapping[str, str] | None = None) -> str:
        return substitute(self.expr, values)


def substitute(expr: str, values: Mapping[str, str] | None = None) -> str:
    """Replace $var, ${var} and [[var]]: interval built-ins by a duration, others by `.*`
    (what "All" means in these dashboards) unless `values` says otherwise."""
    chosen = {**BUILTIN_INTERVALS, **(values or {})}

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        return chosen.get(name, ".*")

    return _VARIABLE.sub(replace, expr)


def _panels(data: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for panel in data.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(data: Mapping[str, Any]) -> list[Query]:
    title = str(data.get("title", ""))
    found: list[Query] = []
    for panel in _panels(data):
        for target in panel.get("targets", []) or []:
            if target.get("expr"):
                found.append(Query(title, str(panel.get("title")), target["expr"], "panel"))
    for variable in data.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        raw = variable.get("query")
        text = raw.get("query") if isinstance(raw, dict) else raw
        match = _LABEL_VALUES.match(str(text))
        if match is None:
            raise ValueError(
                f"{title}: variable {variable.get('name')}: not label_values(): {text}"
            )
        selector = match.group("selector") or "{__name__=~'.+'}"
        found.append(
            Query(
                title,
                f"variable {variable.get('name')}",
                selector,
                "variable",
                label=match.group("label"),
            )
        )
    for annotation in data.get("annotations", {}).get("list", []):
        expr = annotation_expr(annotation)
        if expr:
            found.append(Query(title, f"annotation {annotation.get('name')}", expr, "annotation"))
    return found


def annotation_expr(annotation: Mapping[str, Any]) -> str | None:
    """A Prometheus annotation's query: in its target (Grafana 12), or at the top (before)."""
    target = annotation.get("target") or {}
    expr = target.get("expr") if isinstance(target, Mapping) else None
    return expr or annotation.get("expr")
