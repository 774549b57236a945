"""The chart's values schema for `config.sources` entries, generated from the exporter's source
settings models, so a misspelt source key or an out-of-range duration fails at `helm install`
naming the key instead of crash-looping the pod.

Generated in deploy/helm/acs-exporter/values.schema.json: `config.sources` entries, the range
of every duration key of the other `config` sections, the duration `definitions` and
`prometheusRule.thresholds` (from generators/thresholds.py, via generators/helm_rules.py); the rest
of the file is written by hand. The schema is stored once, in the chart.

    python -m generators.chart_schema           # rewrite values.schema.json (make chart-schema)
    python -m generators.chart_schema --check   # exit 1 naming the file when it is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo

from acs_exporter.config import Settings
from acs_exporter.inputs.types import DurationRange
from acs_exporter.sources.registry import source_types
from generators.helm_rules import thresholds_schema

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "deploy" / "helm" / "acs-exporter" / "values.schema.json"
# One schema branch per registered source type (sources/registry.py).
SOURCE_MODELS: tuple[type[BaseModel], ...] = tuple(entry.settings for entry in source_types())
_REF = "#/definitions/"

# Durations as the exporter reads them: Prometheus form ("1m30s"), ISO 8601 ("PT1M") or a
# number of seconds. Go's regexp (Helm validates with it) has no look-ahead, hence `not`.
_PROMETHEUS_DURATION = "^([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"
_ISO_DURATION = "^P([0-9]+[WD])*(T([0-9]+([.][0-9]+)?[HMS])+)?$"
DEFINITIONS: dict[str, Any] = {
    "durationString": {
        "type": "string",
        "minLength": 1,
        "not": {"enum": ["P"]},
        "anyOf": [{"pattern": _PROMETHEUS_DURATION}, {"pattern": _ISO_DURATION}],
    },
    "positiveDurationString": {
        # A string of these forms is zero exactly when it has no digit 1-9.
        "allOf": [{"$ref": _REF + "durationString"}, {"pattern": "[1-9]"}],
    },
    "duration": {
        "description": "A duration: 15s, 1m30s, 500ms, 2h, 1d, PT1M, or a number of seconds.",
        "anyOf": [{"$ref": _REF + "durationString"}, {"type": "number"}],
    },
    "positiveDuration": {
        "description": "A duration greater than zero.",
        "anyOf": [
            {"$ref": _REF + "positiveDurationString"},
            {"type": "number", "exclusiveMinimum": 0},
        ],
    },
    "nonNegativeDuration": {
        "description": "A duration of zero or more (the string forms cannot be negative).",
        "anyOf": [{"$ref": _REF + "durationString"}, {"type": "number", "minimum": 0}],
    },
}

# What the models' own validators (model_validator) refuse, which field types cannot tell:
# mirrored by hand, as far as JSON Schema can express it. Duration ranges are not here: they
# are read from the fields (DurationRange). tests/helm/test_chart_schema_mirrors_exporter.py
# runs each case through both.
MODEL_RULES: dict[str, dict[str, Any]] = {
    "log_analytics": {
        "anyOf": [
            {"required": ["workspace_ids"], "properties": {"workspace_ids": {"minItems": 1}}},
            {"required": ["resource_ids"], "properties": {"resource_ids": {"minItems": 1}}},
        ],
        "fields": {"tables": {"minItems": 1, "uniqueItems": True}},
        # At least 2 days: exact for numbers; the string forms are left to the exporter
        # (a regular expression for "at least 2 days" over 1d24h-style sums is not sane).
        "minimum_seconds": {"time_generated_lookback": 2 * 86400},
    },
}


def duration_range(field: FieldInfo) -> DurationRange | None:
    """The range the field's duration check enforces, also when the duration is optional."""
    metadata = list(field.metadata)
    for member in get_args(field.annotation):
        if get_origin(member) is Annotated:
            metadata.extend(member.__metadata__)
    for item in metadata:
        if isinstance(item, AfterValidator) and isinstance(item.func, DurationRange):
            return item.func
    return None


def _seconds(value: timedelta) -> float | int:
    seconds = value.total_seconds()
    return int(seconds) if seconds == int(seconds) else seconds


def range_schema(bounds: DurationRange, minimum_seconds: float | None = None) -> dict[str, Any]:
    """Any string form (positive ones only when zero is out of range; upper bounds of strings
    are left to the exporter), or a number of seconds inside the range exactly."""
    low = _seconds(bounds.minimum)
    if minimum_seconds is not None:
        low = max(low, minimum_seconds)
    string = "positiveDurationString" if bounds.minimum > timedelta(0) else "durationString"
    number = {"type": "number", "minimum": low, "maximum": _seconds(bounds.maximum)}
    return {"anyOf": [{"$ref": _REF + string}, number]}


def field_schema(node: Any, duration: dict[str, Any]) -> Any:
    """A pydantic field schema as values.schema.json holds it: durations as `duration`, paths
    as strings, no titles or defaults (values.yaml and the docs carry those)."""
    if isinstance(node, list):
        return [field_schema(item, duration) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("format") == "duration":
        described = {key: value for key, value in node.items() if key == "description"}
        return {**described, **duration}
    return {
        key: field_schema(value, duration)
        for key, value in node.items()
        if key not in {"title", "default"} and not (key == "format" and value == "path")
    }


def source_type(model: type[BaseModel]) -> str:
    (name,) = get_args(model.model_fields["type"].annotation)
    assert isinstance(name, str), f"{model.__name__}: `type` is not a string literal"
    return name


def _properties(model: type[BaseModel], rules: dict[str, Any]) -> dict[str, Any]:
    generated = model.model_json_schema()
    assert "$defs" not in generated, f"{model.__name__}: nested models are not handled"
    minimums = rules.get("minimum_seconds", {})
    properties = {}
    for name, node in generated["properties"].items():
        bounds = duration_range(model.model_fields[name])
        duration = (
            range_schema(bounds, minimums.get(name)) if bounds else {"$ref": _REF + "duration"}
        )
        properties[name] = {**field_schema(node, duration), **rules.get("fields", {}).get(name, {})}
    return properties


def source_branch(model: type[BaseModel]) -> dict[str, Any]:
    """`if type is X then X's keys only`, with what X's validators refuse (MODEL_RULES)."""
    name = source_type(model)
    rules = MODEL_RULES.get(name, {})
    then: dict[str, Any] = {
        "properties": _properties(model, rules),
        "required": model.model_json_schema().get("required", ["type"]),
        "additionalProperties": False,
    }
    if "anyOf" in rules:
        then["anyOf"] = rules["anyOf"]
    return {"if": {"properties": {"type": {"const": name}}, "required": ["type"]}, "then": then}


def source_entry_schema() -> dict[str, Any]:
    """JSON schema of one `config.sources` entry: `type` picks the settings model, whose fields
    (types, enums, bounds) are the only keys allowed. `acs-exporter check-config` remains the
    full check."""
    return {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {"type": "string", "enum": [source_type(model) for model in SOURCE_MODELS]},
            "name": {"type": "string", "minLength": 1},
        },
        "allOf": [source_branch(model) for model in SOURCE_MODELS],
    }


def section_models() -> dict[str, type[BaseModel]]:
    """The models of the `config` sections other than `sources` (web, otlp, ...), by key."""
    return {
        name: field.annotation
        for name, field in Settings.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    }


def bound_section_durations(config: dict[str, Any]) -> None:
    """The hand-written sections' duration keys get their ranges from the models too (a
    `config.otlp.interval` of 2h would otherwise pass helm install and crash-loop the pod)."""
    for section, model in section_models().items():
        properties = config["properties"].get(section, {}).get("properties", {})
        for name, field in model.model_fields.items():
            bounds = duration_range(field)
            if bounds is not None and name in properties:
                described = {k: v for k, v in properties[name].items() if k == "description"}
                properties[name] = {**described, **range_schema(bounds)}


def with_sources(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (the hand-written values schema) with its generated parts brought up to date:
    the `config.sources` entries, the duration keys' ranges and the duration definitions."""
    updated: dict[str, Any] = json.loads(json.dumps(schema))
    config = updated["properties"]["config"]
    config["properties"]["sources"]["items"] = source_entry_schema()
    bound_section_durations(config)
    # The alert thresholds a Helm user may tune, from alerts/thresholds.yaml's model.
    updated["properties"]["prometheusRule"]["properties"]["thresholds"] = thresholds_schema()
    updated["definitions"] = {**updated.get("definitions", {}), **DEFINITIONS}
    return updated


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report drift; exit 1 if any")
    parser.add_argument("--schema", type=Path, default=SCHEMA, help="the values.schema.json")
    args = parser.parse_args(argv)
    path: Path = args.schema
    current = path.read_text()
    expected = render(with_sources(json.loads(current)))
    if current == expected:
        return 0
    if args.check:
        print(
            f"{path}: config.sources entries or prometheusRule.thresholds differ from the "
            "settings and thresholds models; "
            "run `make chart-schema`",
            file=sys.stderr,
        )
        return 1
    path.write_text(expected)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
