"""pyproject.toml's packaging promises hold in the source tree: every package-data glob ships
at least one file (a glob matching nothing is a stale promise, e.g. a folder that was never
made or was moved away), and every package named there exists."""

from __future__ import annotations

import tomllib

from conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
PACKAGE_ROOT = REPO / SETUPTOOLS["package-dir"][""]


def test_every_package_data_glob_matches_a_file() -> None:
    empty = []
    for package, patterns in SETUPTOOLS["package-data"].items():
        directory = PACKAGE_ROOT / package.replace(".", "/")
        assert (directory / "__init__.py").is_file(), (
            f"package-data names {package!r}: no such package"
        )
        for pattern in patterns:
            if not any(path.is_file() for path in directory.glob(pattern)):
                empty.append(
                    f"{package}: {pattern!r} matches no file under {directory.relative_to(REPO)}"
                )
    assert empty == [], "remove or fix these package-data globs in pyproject.toml:\n" + "\n".join(
        empty
    )
