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


def source_entry_schema() -> dict[str, Any]:
    """JSON schema of one `config.sources` entry: `type` picks the settings model, whose
    fields are the only keys allowed. Values are checked in full by `acs-exporter check-config`."""
    from acs_exporter.sources.files_settings import FilesSettings
    from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
    from acs_exporter.sources.simulator_settings import SimulatorSettings

    branches = []
    types = []
    for model in (SimulatorSettings, FilesSettings, LogAnalyticsSettings):
        (source_type,) = get_args(model.model_fields["type"].annotation)
        types.append(source_type)
        properties = {
            name: {"description": field.description} if field.description else {}
            for name, field in model.model_fields.items()
        }
        branches.append(
            {
                "if": {"properties": {"type": {"const": source_type}}, "required": ["type"]},
                "then": {"properties": properties, "additionalProperties": False},
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
