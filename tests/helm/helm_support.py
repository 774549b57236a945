"""Render the chart with Helm's own engine (helm-python-sdk) and look into the manifests.

There is no helm binary (nor helm-unittest) here: these helpers play the part of
`helm template` and of helm-unittest's document selectors.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from helm_python.chart import Chart
from helm_python.errors import HelmValuesError

from conftest import REPO

CHART_DIR = REPO / "deploy" / "helm" / "acs-exporter"
CI_VALUES = sorted((CHART_DIR / "ci").glob("*-values.yaml"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"
RELEASE = "rel"
NAMESPACE = "mon"
FULLNAME = "rel-acs-exporter"


def load_values(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text()) or {}
    assert isinstance(loaded, dict), f"{path}: values must be a mapping"
    return loaded


@dataclass(frozen=True)
class Rendered:
    """The output of one render: manifests by template, parsed documents, NOTES.txt."""

    templates: dict[str, str]

    @property
    def docs(self) -> list[dict[str, Any]]:
        documents: list[dict[str, Any]] = []
        for path, text in sorted(self.templates.items()):
            if path.endswith("NOTES.txt"):
                continue
            for doc in yaml.safe_load_all(text):
                if doc is not None:
                    assert isinstance(doc, dict), f"{path}: a manifest is not a mapping"
                    documents.append(doc)
        return documents

    @property
    def notes(self) -> str:
        return next(text for path, text in self.templates.items() if path.endswith("NOTES.txt"))

    def kinds(self) -> list[str]:
        return sorted(doc["kind"] for doc in self.docs)

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.all(kind)
        assert len(found) == 1, f"expected one {kind}, rendered {len(found)}: {self.kinds()}"
        return found[0]

    @property
    def pod_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.one("Deployment")["spec"]["template"]["spec"]
        return spec

    @property
    def container(self) -> dict[str, Any]:
        """The exporter's container (sidecars from extraContainers come after it)."""
        containers = self.pod_spec["containers"]
        assert containers[0]["name"] == "exporter", [item["name"] for item in containers]
        container: dict[str, Any] = containers[0]
        return container

    def env(self) -> dict[str, Any]:
        return {item["name"]: item for item in self.container.get("env", [])}

    def config(self) -> dict[str, Any]:
        """The exporter configuration the ConfigMap carries."""
        (config_map,) = [
            doc for doc in self.all("ConfigMap") if "config.yaml" in doc.get("data", {})
        ]
        data = config_map["data"]["config.yaml"]
        loaded: dict[str, Any] = yaml.safe_load(data)
        return loaded


def render(values: dict[str, Any] | None = None, chart_dir: Path = CHART_DIR) -> Rendered:
    with Chart.load(chart_dir) as chart:
        templates = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE)
    return Rendered(templates)


def schema_error(values: dict[str, Any]) -> str | None:
    """What values.schema.json says about `values`, or None when it accepts them."""
    with Chart.load(CHART_DIR) as chart:
        try:
            chart.validate_schema(values)
        except HelmValuesError as error:
            return str(error)
    return None


def run_generator(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m <module> <args>` from the repository root, as `make` runs the generators."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def iter_ci_values() -> Iterator[tuple[str, dict[str, Any]]]:
    yield "chart defaults", {}
    for path in CI_VALUES:
        yield path.name, load_values(path)


def is_rule_file(path: Path) -> bool:
    """A Prometheus rule file (a top-level `groups` list), unlike alerts/thresholds.yaml or the
    Alertmanager example beside it."""
    document = yaml.safe_load(path.read_text())
    return isinstance(document, dict) and isinstance(document.get("groups"), list)


def canonical_rule_files() -> list[Path]:
    """The generated rule files in alerts/ (the chart renders the same rules from its
    generated templates/_rules.tpl)."""
    return [path for path in sorted((REPO / "alerts").glob("*.yaml")) if is_rule_file(path)]


def canonical_artefacts() -> dict[str, list[Path]]:
    """The files the chart ships, where they are stored: the alert thresholds (the chart's
    rules read them) in alerts/ and the dashboards in dashboards/, by the chart's files/ folder
    that links them."""
    return {
        "alerts": [REPO / "alerts" / "thresholds.yaml"],
        "dashboards": sorted((REPO / "dashboards").glob("*.json")),
    }


def chart_content_missing() -> list[str]:
    """What the chart lacks until dashboards/ exists in the repository."""
    missing = []
    if not list((CHART_DIR / "files" / "dashboards").glob("*.json")):
        missing.append("dashboards")
    return missing


def chart_with_content(tmp_dir: Path) -> Path:
    """The chart, or a copy of it with stand-in rules/dashboards where it has none yet.

    Never silent: each stand-in raises a warning that shows in the test summary.
    """
    missing = chart_content_missing()
    if not missing:
        return CHART_DIR
    copy = tmp_dir / "acs-exporter"
    if not copy.exists():
        shutil.copytree(CHART_DIR, copy)
        for kind in missing:
            target = copy / "files" / kind
            target.mkdir(parents=True, exist_ok=True)
            for fixture in sorted((FIXTURES / kind).iterdir()):
                shutil.copy(fixture, target / fixture.name)
    for kind in missing:
        warnings.warn(
            f"the repository has no {kind} yet (chart files/{kind}/ is empty): "
            f"rendering with the stand-in tests/helm/fixtures/{kind}/ instead",
            UserWarning,
            stacklevel=2,
        )
    return copy
