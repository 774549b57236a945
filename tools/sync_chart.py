"""Copy the alert rules and Grafana dashboards into the Helm chart, or check the copies.

The chart cannot read files outside its directory, so its PrometheusRule and dashboard
ConfigMaps embed copies: `alerts/*.yaml` -> `deploy/helm/acs-exporter/files/alerts/` and
`dashboards/*.json` -> `deploy/helm/acs-exporter/files/dashboards/`. Rule unit tests
(`alerts/tests/`) stay out. Copies whose original is gone are removed.

    python tools/sync_chart.py           # write the copies (make chart-sync)
    python tools/sync_chart.py --check   # exit 1 and list the differences when they drift
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "deploy" / "helm" / "acs-exporter"


@dataclass(frozen=True)
class CopySet:
    source_dir: Path
    pattern: str
    target_dir: Path


COPY_SETS = (
    CopySet(REPO / "alerts", "*.yaml", CHART / "files" / "alerts"),
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
        originals = _files(copy_set.source_dir, copy_set.pattern)
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


def sync(copy_sets: tuple[CopySet, ...] = COPY_SETS) -> list[str]:
    """Make the copies match the originals; returns what changed."""
    changes = drift(copy_sets)
    for copy_set in copy_sets:
        originals = _files(copy_set.source_dir, copy_set.pattern)
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
        problems = drift()
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("chart copies are out of date: run `make chart-sync`", file=sys.stderr)
            return 1
        print("chart copies are up to date")
        return 0
    for change in sync():
        print(f"synced: {change}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
