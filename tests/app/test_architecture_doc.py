"""docs/architecture.md names modules and folders: each of them must exist, and every folder of
the package must be on the page, so a move or a new folder cannot leave the map behind."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "architecture.md"
PACKAGE = REPO / "exporter" / "acs_exporter"
ROOTS = ("exporter/", "generators/", "tests/", "deploy/", "alerts/", "dashboards/", "docs/")

# `a/b/c.py`, `a/b/`, `c.py`, `simulator/`: what the page writes in backticks that is a path.
PATH = re.compile(r"`([\w./*-]+(?:\.py|/|\.json|\.yaml))`")


def named_paths() -> list[str]:
    return PATH.findall(DOC.read_text())


def test_the_page_names_paths_at_all() -> None:
    paths = named_paths()
    assert len(paths) > 40, paths  # the parser must not silently find nothing


def test_every_path_the_page_names_exists() -> None:
    missing = []
    for path in named_paths():
        if path.startswith(ROOTS):
            found = any(REPO.glob(path.rstrip("/"))) if "*" in path else (REPO / path).exists()
        else:  # a bare name in a folder's row: somewhere in the package or the generators
            name = path.rstrip("/")
            found = any(
                p.name == name for base in (PACKAGE, REPO / "generators") for p in base.rglob(name)
            )
        if not found:
            missing.append(path)
    assert missing == [], f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_folder_of_the_package_is_on_the_page() -> None:
    text = DOC.read_text()
    folders = sorted(
        str(p.relative_to(REPO)) + "/"
        for p in PACKAGE.rglob("*")
        if p.is_dir() and (p / "__init__.py").exists()
    )
    unmentioned = [f for f in folders if f"`{f}`" not in text and f"`{Path(f).name}/`" not in text]
    assert unmentioned == [], f"add these folders to docs/architecture.md: {unmentioned}"


def test_the_steps_name_the_definitions_they_ask_to_edit() -> None:
    text = DOC.read_text()
    for step, module in (
        ("## How to add a table", "exporter/acs_exporter/definitions/tables.py"),
        ("## How to add a source type", "exporter/acs_exporter/sources/registry.py"),
        ("## How to add a label", "exporter/acs_exporter/definitions/tables.py"),
        ("## How to add a metric", "exporter/acs_exporter/definitions/metrics.py"),
    ):
        section = text[text.index(step) :].split("\n## ", 2)[0]
        assert module in section, f"{step} should name {module}"
