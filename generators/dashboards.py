"""Generate acs-exporter's Grafana dashboards (dashboards/*.json) with grafana-foundation-sdk.

    python -m generators.dashboards           # rewrite the committed JSON (make dashboards)
    python -m generators.dashboards --check   # exit 1 when a committed file is stale

Run from the repository root. Thresholds drawn on panels come from alerts/thresholds.yaml, like
the alert rules, so a line on a dashboard is exactly where its alert fires; metric names come
from acs_exporter.definitions.metrics. Each dashboard is a module of its own (end_reasons_dashboard,
health_dashboard) built from generators.panels; docs/dashboards.md describes every row.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from generators.end_reasons_dashboard import call_end_reasons
from generators.health_dashboard import exporter_health
from generators.thresholds import REPO, Thresholds, ThresholdsError, load

OUTPUT_DIR = REPO / "dashboards"

DASHBOARDS: dict[str, Callable[[Thresholds], dashboard_builder.Dashboard]] = {
    "acs-call-end-reasons.json": call_end_reasons,
    "acs-exporter-health.json": exporter_health,
}


# What Grafana's Prometheus data source shows for an alert annotation. It reads these four from
# the annotation itself; the query goes in `target` (Grafana 12 moves a top-level `expr` and
# `step` there when it loads a dashboard, so we write it there in the first place).
PROMETHEUS_ANNOTATION = {
    "titleFormat": "{{alertname}}",
    "textFormat": "{{summary}}",
    "tagKeys": "severity,cluster,job,source",
    "useValueForTime": False,
}
ANNOTATION_STEP = "60s"
# Settings the SDK still writes that Grafana 12's schema no longer has: the interval-variable
# settings on every variable, and the table footer (now fieldConfig.defaults.custom.footer).
INTERVAL_ONLY = ("auto", "auto_count", "auto_min")


def _finish(data: dict[str, Any]) -> dict[str, Any]:
    """Settle what the SDK leaves open or still writes in Grafana 10's form, so the JSON is
    stable, complete and valid against Grafana's current schema (tests/dashboards)."""
    for number, panel in enumerate(_all_panels(data), start=1):
        panel["id"] = number
        if panel.get("type") == "table":
            panel.get("options", {}).pop("footer", None)
    for annotation in data.get("annotations", {}).get("list", []):
        _finish_annotation(annotation)
    for variable in data.get("templating", {}).get("list", []):
        if variable.get("type") != "interval":
            for key in INTERVAL_ONLY:
                variable.pop(key, None)
    data["graphTooltip"] = data.get("graphTooltip", 1)
    return data


def _finish_annotation(annotation: dict[str, Any]) -> None:
    expr = annotation.pop("expr", None)
    if expr is None:
        return
    annotation["target"] = {"expr": expr, "interval": ANNOTATION_STEP, "refId": "Anno"}
    for key, value in PROMETHEUS_ANNOTATION.items():
        annotation.setdefault(key, value)


def _all_panels(data: dict[str, Any]) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    for panel in data.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def build(thresholds: Thresholds | None = None) -> dict[str, dict[str, Any]]:
    """Every dashboard as Grafana JSON, by file name."""
    t = thresholds or load()
    result = {}
    for name, make in DASHBOARDS.items():
        encoded = json.dumps(make(t).build(), cls=JSONEncoder)
        result[name] = _finish(json.loads(encoded))
    return result


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    try:
        dashboards = build()
    except ThresholdsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stale = []
    for name, data in dashboards.items():
        path = OUTPUT_DIR / name
        text = render(data)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(stale)}: run `make dashboards`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
