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


def _finish(data: dict[str, Any]) -> dict[str, Any]:
    """Settle what the SDK leaves open, so the JSON is stable and complete."""
    for number, panel in enumerate(_all_panels(data), start=1):
        panel["id"] = number
    for annotation in data.get("annotations", {}).get("list", []):
        # Fields of Grafana's Prometheus annotation query the SDK does not model.
        annotation.setdefault("titleFormat", "{{alertname}}")
        annotation.setdefault("textFormat", "{{summary}}")
        annotation.setdefault("tagKeys", "severity,job,source")
        annotation.setdefault("step", "60s")
        annotation.setdefault("useValueForTime", False)
    data.setdefault("schemaVersion", 39)
    data["graphTooltip"] = data.get("graphTooltip", 1)
    return data


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
