"""Grafana's published dashboard schema, as a JSON Schema the tests apply to the dashboards.

`@grafana/schema` (npm, pinned in tools/grafana/package-lock.json) ships the TypeScript types
Grafana's frontend uses for a dashboard JSON and for each panel type's options and field config.
`ts-json-schema-generator` (pinned there too) turns tools/grafana/dashboard-schema.ts, which
gathers the types these dashboards need, into one JSON Schema. The schema is generated when the
tests run, not committed: it is a pure function of the locked npm packages, so a committed copy
could only drift, and checking it for drift would cost the same generation (a few seconds).

The generated schema is strict (every interface closed: `additionalProperties: false`), with
two openings that the TypeScript itself makes, because the generator cannot express them:
  - an annotation's `target` is `TQuery extends DataQuery`, the query of the annotation's data
    source; the generator instantiates the bare DataQuery, so the Prometheus query's own fields
    (`expr`, `interval`, ...) are let through here;
  - Grafana's Prometheus data source reads `titleFormat`, `textFormat`, `tagKeys` and
    `useValueForTime` from the annotation itself (its annotation editor writes them there);
    exactly these four are added to the annotation, typed.
Everything else (a deprecated `style`, a table `footer`, an unknown option) is an error.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from conftest import REPO

TOOLS = REPO / "tools" / "grafana"
ENTRY = TOOLS / "dashboard-schema.ts"
GENERATOR = TOOLS / "node_modules" / ".bin" / "ts-json-schema-generator"
ROOT_TYPE = "GrafanaSchemas"

PROMETHEUS_ANNOTATION_FIELDS = {
    "titleFormat": {"type": "string"},
    "textFormat": {"type": "string"},
    "tagKeys": {"type": "string"},
    "useValueForTime": {"type": "boolean"},
}


def generate(out: Path) -> dict[str, Any]:
    """Run ts-json-schema-generator on tools/grafana/dashboard-schema.ts; the schema's root."""
    command = [
        str(GENERATOR),
        "--path",
        str(ENTRY),
        "--type",
        ROOT_TYPE,
        "--no-type-check",
        # Inline every type: @grafana/schema has two types named DataSourceRef, which the
        # generator cannot both keep as named definitions.
        "--expose",
        "none",
        "--out",
        str(out),
    ]
    result = subprocess.run(
        command, cwd=TOOLS, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"ts-json-schema-generator could not turn {ENTRY.relative_to(REPO)} into a JSON "
            f"Schema (exit {result.returncode}):\n{result.stderr.strip()[:2000]}"
        )
    schema: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    root: dict[str, Any] = schema["definitions"][ROOT_TYPE]["properties"]
    return root


def _annotation(dashboard: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = dashboard["properties"]["annotations"]["properties"]["list"]["items"]
    return item


def open_for_prometheus(dashboard: dict[str, Any]) -> dict[str, Any]:
    """The two openings the module docstring describes, applied to the Dashboard schema."""
    annotation = _annotation(dashboard)
    annotation["properties"]["target"]["additionalProperties"] = True
    annotation["properties"].update(PROMETHEUS_ANNOTATION_FIELDS)
    return dashboard


@dataclass(frozen=True)
class Problem:
    where: str  # file and JSON path, e.g. acs-exporter-health.json: panels/3/options
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def _problems(schema: Mapping[str, Any], instance: object, where: str) -> Iterator[Problem]:
    validator = jsonschema.Draft7Validator(schema)
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(part) for part in error.absolute_path)
        yield Problem(f"{where}/{path}".rstrip("/"), error.message[:300])


def _panels(data: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for i, panel in enumerate(data.get("panels", [])):
        yield f"panels/{i}", panel
        for j, inner in enumerate(panel.get("panels", [])):
            yield f"panels/{i}/panels/{j}", inner


def panel_problems(
    panels: Mapping[str, Any], data: Mapping[str, Any], name: str
) -> Iterator[Problem]:
    """Each panel's options and field config against its panel type's published types."""
    for path, panel in _panels(data):
        kind = panel.get("type")
        if kind == "row":
            continue
        where = f"{name}: {path} ({panel.get('title')})"
        if kind not in panels["properties"]:
            yield Problem(where, f"panel type {kind!r} has no schema in {ENTRY.name}")
            continue
        schema = panels["properties"][kind]["properties"]
        yield from _problems(schema["options"], panel.get("options", {}), f"{where}: options")
        custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom", {})
        yield from _problems(schema["custom"], custom, f"{where}: fieldConfig.defaults.custom")


def problems(root: Mapping[str, Any], data: Mapping[str, Any], name: str) -> list[Problem]:
    """Everything in dashboard `data` (file `name`) that Grafana's published schema rejects."""
    found = list(_problems(root["dashboard"], data, name))
    found.extend(panel_problems(root["panels"], data, name))
    return found
