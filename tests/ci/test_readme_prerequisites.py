"""The README states the prerequisites exactly: every Debian package that `make` or ./dev
installs with apt is named there, every `make TARGET` it mentions exists, and `make bench`
and `make test` build what they need (the Kusto language service) on a clean clone."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, require_tool

README = (REPO / "README.md").read_text()
MAKEFILE = (REPO / "Makefile").read_text()
APT = re.compile(
    r"(?:\$\(APT_INSTALL\)|apt-get install [^;]*?--no-install-recommends)\s+([a-z0-9 .+-]+?)\s*>"
)


def apt_packages(text: str) -> set[str]:
    return {name for match in APT.finditer(text) for name in match[1].split()}


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", MAKEFILE, flags=re.MULTILINE))


def test_every_package_installed_with_apt_is_named_in_the_readme() -> None:
    installed = apt_packages(MAKEFILE) | apt_packages((REPO / "dev").read_text())
    assert {"python3-venv", "nodejs", "npm", "prometheus", "make"} <= installed
    missing = sorted(name for name in installed if f"`{name}`" not in README)
    assert missing == []


def test_every_make_target_the_readme_names_exists_and_venv_has_a_row() -> None:
    named = set(re.findall(r"`make ([a-z][a-z0-9-]*)", README))
    assert named - make_targets() == set()
    # The Development table has a row for each target a newcomer runs by hand.
    for target in ("venv", "test", "bench"):
        assert re.search(rf"^\| `make {target}[` ]", README, flags=re.MULTILINE), target


@pytest.mark.parametrize("target", ["bench", "test"])
def test_a_clean_clone_builds_the_kusto_service_for(tmp_path: Path, target: str) -> None:
    """`make -n` on a clone whose virtualenv exists but whose tools/kusto was never built."""
    make = require_tool("make")
    npm_tools = [
        str(path.relative_to(REPO))
        for path in sorted(REPO.glob("tools/*/package*.json"))
        if path.name in ("package.json", "package-lock.json")
    ]
    for name in ("Makefile", "pyproject.toml", *npm_tools):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / ".installed-stamp").touch()
    result = subprocess.run(
        [make, "-n", target], capture_output=True, text=True, check=False, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "cd tools/kusto && npm ci" in result.stdout
