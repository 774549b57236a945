"""Check that a release tag matches the one version of the project, and say where it ships.

The version lives in one place, pyproject.toml's `[project] version` (the package reads it back
through its metadata as `acs_exporter.__version__`). Everything else that names it must agree:
the Helm chart's `version` and `appVersion`, and the Dockerfile's `ARG VERSION` default. The
chart's default image (values.yaml `image.registry` / `image.repository`) is where the release
workflow pushes, so it must belong to the owner of the repository that releases.

    python3 tools/release/release_info.py --tag v0.1.0 --owner acs-exporter \
        [--github-output "$GITHUB_OUTPUT"]

Exits 1 with one `file:line: ...` line per disagreement; else prints (and appends to the
GitHub output file) `version=`, `image=` and `charts=`. Standard library only: it runs on the
runner's python3 before anything is installed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHART = Path("deploy/helm/acs-exporter")


@dataclass(frozen=True)
class Found:
    """A value read from a file, with where it was read (for the error message)."""

    value: str
    where: str


def line_value(path: Path, pattern: str, root: Path) -> Found:
    """The first match of `pattern` (one group) on a line of `path`, unquoted."""
    text = (root / path).read_text()
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.match(pattern, line)
        if match:
            return Found(match[1].strip().strip("\"'"), f"{path}:{number}")
    return Found("", f"{path}: no line matching {pattern!r}")


def block_value(path: Path, block: str, key: str, root: Path) -> Found:
    """`key` of the top-level mapping `block` in a YAML file (two-space indent, as ours)."""
    lines = (root / path).read_text().splitlines()
    inside = False
    for number, line in enumerate(lines, start=1):
        if re.match(rf"{block}:\s*(#.*)?$", line):
            inside = True
        elif inside and re.match(r"\S", line):
            break
        elif inside:
            match = re.match(rf"  {key}:\s*(.*?)\s*(#.*)?$", line)
            if match:
                return Found(match[1].strip("\"'"), f"{path}:{number}")
    return Found("", f"{path}: no {block}.{key}")


def project_version(root: Path) -> str:
    version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    assert isinstance(version, str)
    return version


def version_problems(tag: str, version: str, root: Path) -> list[str]:
    """One line per place that disagrees with pyproject.toml's version."""
    problems = []
    if tag != f"v{version}":
        problems.append(f"tag {tag!r}: expected 'v{version}' (pyproject.toml [project] version)")
    others = {
        "Chart.yaml version": line_value(CHART / "Chart.yaml", r"version:(.*)$", root),
        "Chart.yaml appVersion": line_value(CHART / "Chart.yaml", r"appVersion:(.*)$", root),
        "Dockerfile ARG VERSION": line_value(Path("Dockerfile"), r"ARG VERSION=(.*)$", root),
    }
    for name, found in others.items():
        if found.value != version:
            problems.append(
                f"{found.where}: {name} is {found.value!r}, expected {version!r} "
                "(pyproject.toml [project] version)"
            )
    return problems


def image_problems(owner: str, root: Path) -> tuple[str, list[str]]:
    """The chart's default image, and a problem when the releasing owner cannot push there."""
    values = CHART / "values.yaml"
    registry = block_value(values, "image", "registry", root)
    repository = block_value(values, "image", "repository", root)
    image = f"{registry.value}/{repository.value}" if registry.value else repository.value
    expected = f"ghcr.io/{owner.lower()}/acs-exporter"
    if image != expected:
        return image, [
            f"{registry.where}, {repository.where}: the chart's default image is {image!r}, "
            f"but this repository's release pushes to {expected!r}: set image.registry to "
            f"'ghcr.io' and image.repository to '{owner.lower()}/acs-exporter'"
        ]
    return image, []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tag", required=True, help="the pushed tag, e.g. v0.1.0")
    parser.add_argument("--owner", required=True, help="the GitHub owner of the repository")
    parser.add_argument("--github-output", type=Path, help="append key=value lines here")
    parser.add_argument("--root", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    version = project_version(args.root)
    image, problems = image_problems(args.owner, args.root)
    problems = version_problems(args.tag, version, args.root) + problems
    if problems:
        for problem in problems:
            print(f"release: {problem}", file=sys.stderr)
        return 1
    outputs = (
        f"version={version}\nimage={image}\ncharts=oci://ghcr.io/{args.owner.lower()}/charts\n"
    )
    print(outputs, end="")
    if args.github_output:
        with args.github_output.open("a") as output:
            output.write(outputs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
