"""Copy the alert rules and Grafana dashboards into the Helm chart, or check the copies.

The chart cannot read files outside its directory, so its PrometheusRule and dashboard
ConfigMaps embed copies: `alerts/*.yaml` -> `deploy/helm/acs-exporter/files/alerts/` and
`dashboards/*.json` -> `deploy/helm/acs-exporter/files/dashboards/`. Only Prometheus rule
files (YAML with a top-level `groups` list) are copied from alerts/: rule unit tests
(`alerts/tests/`), threshold or Alertmanager files stay out, and sync says which it left out.
Copies whose original is gone are removed.

It also derives, from the source settings models, which keys each `config.sources` entry may
have in `values.schema.json`, so a misspelt source key fails at `helm install` naming the key.

    python tools/sync_chart.py           # write the copies (make chart-sync)
    python tools/sync_chart.py --check   # exit 1 and list the differences when they drift
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import yaml

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "deploy" / "helm" / "acs-exporter"
SCHEMA = CHART / "values.schema.json"


def not_a_rule_file(path: Path) -> str | None:
    """Why `path` is not a Prometheus rule file, or None when it is one."""
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        return f"not valid YAML ({error})"
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        return "no top-level `groups` list"
    return None


@dataclass(frozen=True)
class CopySet:
    source_dir: Path
    pattern: str
    target_dir: Path
    # Returns why a matching file is not to be copied, or None to copy it.
    reject: Callable[[Path], str | None] = lambda _path: None

    def originals(self) -> dict[str, Path]:
        return {
            name: path
            for name, path in _files(self.source_dir, self.pattern).items()
            if self.reject(path) is None
        }

    def left_out(self) -> list[str]:
        found = []
        for path in _files(self.source_dir, self.pattern).values():
            reason = self.reject(path)
            if reason is not None:
                found.append(f"{_rel(path)}: left out, {reason}")
        return found


COPY_SETS = (
    CopySet(REPO / "alerts", "*.yaml", CHART / "files" / "alerts", not_a_rule_file),
    CopySet(REPO / "dashboards", "*.json", CHART / "files" / "dashboards"),
)


def _files(directory: Path, pattern: str) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {path.name: path for path in sorted(directory.glob(pattern)) if path.is_file()}


def drift(copy_sets: tuple[CopySet, ...] = COPY_SETS) -> list[str]:
    """Human-readable differences between the originals and the chart's copies."""
    problems: list[str] = []
    for copy_set in copy_sets:
        originals = copy_set.originals()
        copies = _files(copy_set.target_dir, copy_set.pattern)
        for name, original in originals.items():
            copy = copies.get(name)
            if copy is None:
                problems.append(
                    f"{_rel(copy_set.target_dir / name)}: missing (copy of {_rel(original)})"
                )
            elif copy.read_bytes() != original.read_bytes():
                problems.append(f"{_rel(copy)}: differs from {_rel(original)}")
        for name, copy in copies.items():
            if name not in originals:
                problems.append(f"{_rel(copy)}: stale, {_rel(copy_set.source_dir / name)} is gone")
    return problems


# Durations as the exporter reads them: Prometheus form ("1m30s"), ISO 8601 ("PT1M") or a
# number of seconds. Go's regexp (Helm validates with it) has no look-ahead, hence `not`.
_PROMETHEUS_DURATION = "^([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"
_ISO_DURATION = "^P([0-9]+[WD])*(T([0-9]+([.][0-9]+)?[HMS])+)?$"
_DURATION_STRING: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "not": {"enum": ["P"]},
    "anyOf": [{"pattern": _PROMETHEUS_DURATION}, {"pattern": _ISO_DURATION}],
}
DEFINITIONS: dict[str, Any] = {
    "duration": {
        "description": "A duration: 15s, 1m30s, 500ms, 2h, 1d, PT1M, or a number of seconds.",
        "anyOf": [_DURATION_STRING, {"type": "number"}],
    },
    "positiveDuration": {
        "description": "A duration greater than zero.",
        # A string of these forms is zero exactly when it has no digit 1-9.
        "anyOf": [
            {**_DURATION_STRING, "allOf": [{"pattern": "[1-9]"}]},
            {"type": "number", "exclusiveMinimum": 0},
        ],
    },
    "nonNegativeDuration": {
        "description": "A duration of zero or more (the string forms cannot be negative).",
        "anyOf": [_DURATION_STRING, {"type": "number", "minimum": 0}],
    },
}
_DEFINITION_REF = "#/definitions/"

# What each model's own validators (model_validator, field_validator) refuse, which field
# types cannot tell: mirrored by hand, as far as JSON Schema can express it.
# tests/helm/test_chart_schema_mirrors_exporter.py runs each case through both.
MODEL_RULES: dict[str, dict[str, Any]] = {
    "log_analytics": {
        "anyOf": [
            {"required": ["workspace_ids"], "properties": {"workspace_ids": {"minItems": 1}}},
            {"required": ["resource_ids"], "properties": {"resource_ids": {"minItems": 1}}},
        ],
        "fields": {
            "tables": {"minItems": 1, "uniqueItems": True},
            "poll_interval": {"$ref": _DEFINITION_REF + "positiveDuration"},
            "max_window": {"$ref": _DEFINITION_REF + "positiveDuration"},
            "safety_lag": {"$ref": _DEFINITION_REF + "nonNegativeDuration"},
            "initial_lookback": {"$ref": _DEFINITION_REF + "nonNegativeDuration"},
            # At least 2 days: exact for numbers; the string forms are left to the exporter
            # (a regular expression for "at least 2 days" over 1d24h-style sums is not sane).
            "time_generated_lookback": {
                "anyOf": [_DURATION_STRING, {"type": "number", "minimum": 2 * 86400}]
            },
        },
    },
}


def _field_schema(node: Any) -> Any:
    """A pydantic field schema as values.schema.json holds it: durations by reference, paths
    as strings, no titles or defaults (values.yaml and the docs carry those)."""
    if isinstance(node, list):
        return [_field_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("format") == "duration":
        return {"$ref": _DEFINITION_REF + "duration"}
    converted = {
        key: _field_schema(value)
        for key, value in node.items()
        if key not in {"title", "default"} and not (key == "format" and value == "path")
    }
    return converted


def source_entry_schema() -> dict[str, Any]:
    """JSON schema of one `config.sources` entry: `type` picks the settings model, whose
    fields (with their types, enums and bounds) are the only keys allowed, plus what the
    model's validators refuse (MODEL_RULES). `acs-exporter check-config` remains the full check."""
    from acs_exporter.sources.registry import source_types

    branches = []
    types = []
    for model in (entry.settings for entry in source_types()):
        (source_type,) = get_args(model.model_fields["type"].annotation)
        types.append(source_type)
        generated = model.model_json_schema()
        assert "$defs" not in generated, f"{model.__name__}: nested models are not handled"
        rules = MODEL_RULES.get(source_type, {})
        properties = {}
        for name, field in generated["properties"].items():
            schema = _field_schema(field)
            extra = rules.get("fields", {}).get(name)
            if extra and ("$ref" in extra or "anyOf" in extra):
                schema = {key: value for key, value in schema.items() if key == "description"}
            properties[name] = {**schema, **(extra or {})}
        then: dict[str, Any] = {
            "properties": properties,
            "required": generated.get("required", ["type"]),
            "additionalProperties": False,
        }
        if "anyOf" in rules:
            then["anyOf"] = rules["anyOf"]
        branches.append(
            {
                "if": {"properties": {"type": {"const": source_type}}, "required": ["type"]},
                "then": then,
            }
        )
    return {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {"type": "string", "enum": types},
            "name": {"type": "string", "minLength": 1},
        },
        "allOf": branches,
    }


def _schema_with_sources(schema: dict[str, Any]) -> dict[str, Any]:
    updated: dict[str, Any] = json.loads(json.dumps(schema))
    sources = updated["properties"]["config"]["properties"]["sources"]
    sources["items"] = source_entry_schema()
    updated["definitions"] = {**updated.get("definitions", {}), **DEFINITIONS}
    return updated


def schema_drift() -> list[str]:
    schema = json.loads(SCHEMA.read_text())
    if schema != _schema_with_sources(schema):
        return [f"{_rel(SCHEMA)}: config.sources entries differ from the source settings models"]
    return []


def sync_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    updated = _schema_with_sources(schema)
    if updated != schema:
        SCHEMA.write_text(json.dumps(updated, indent=2) + "\n")


def sync(copy_sets: tuple[CopySet, ...] = COPY_SETS) -> list[str]:
    """Make the copies match the originals; returns what changed."""
    changes = drift(copy_sets)
    for copy_set in copy_sets:
        originals = copy_set.originals()
        copy_set.target_dir.mkdir(parents=True, exist_ok=True)
        for name, original in originals.items():
            target = copy_set.target_dir / name
            if not target.exists() or target.read_bytes() != original.read_bytes():
                target.write_bytes(original.read_bytes())
        for name, copy in _files(copy_set.target_dir, copy_set.pattern).items():
            if name not in originals:
                copy.unlink()
    return changes


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report drift; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift() + schema_drift()
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("chart copies are out of date: run `make chart-sync`", file=sys.stderr)
            return 1
        print("chart copies are up to date")
        return 0
    for copy_set in COPY_SETS:
        for note in copy_set.left_out():
            print(note)
    for change in sync() + schema_drift():
        print(f"synced: {change}")
    sync_schema()
    return 0


if __name__ == "__main__":
    sys.exit(main())
