"""The release workflow's first job: tools/release/release_info.py checks the pushed tag against
the one version (pyproject.toml) and everything that repeats it, and says where the image and
chart go. Run as the workflow runs it: a real subprocess on a copy of the files it reads."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO

SCRIPT = REPO / "tools" / "release" / "release_info.py"
CHART = Path("deploy/helm/acs-exporter")
READ = (Path("pyproject.toml"), Path("Dockerfile"), CHART / "Chart.yaml", CHART / "values.yaml")
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def release_info(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for path in READ:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / path, tmp_path / path)
    return tmp_path


def test_the_repository_is_releasable_at_its_version(tmp_path: Path) -> None:
    output = tmp_path / "github-output"
    result = release_info(REPO, "--tag", f"v{VERSION}", "--owner", "acs-exporter")
    assert result.returncode == 0, result.stderr
    result = release_info(
        REPO, "--tag", f"v{VERSION}", "--owner", "acs-exporter", "--github-output", str(output)
    )
    assert output.read_text() == (
        f"version={VERSION}\n"
        "image=ghcr.io/acs-exporter/acs-exporter\n"
        "charts=oci://ghcr.io/acs-exporter/charts\n"
    )


def test_a_tag_other_than_the_version_is_refused() -> None:
    for tag in (f"v{VERSION}.1", VERSION, f"v{VERSION}-rc1"):
        result = release_info(REPO, "--tag", tag, "--owner", "acs-exporter")
        assert result.returncode == 1, tag
        assert f"release: tag {tag!r}: expected 'v{VERSION}'" in result.stderr


@pytest.mark.parametrize(
    ("path", "pattern", "replacement", "named"),
    [
        (CHART / "Chart.yaml", r"^version: .*$", "version: 9.9.9", "Chart.yaml version"),
        (CHART / "Chart.yaml", r"^appVersion: .*$", 'appVersion: "9.9.9"', "Chart.yaml appVersion"),
        (Path("Dockerfile"), r"^ARG VERSION=.*$", "ARG VERSION=9.9.9", "Dockerfile ARG VERSION"),
    ],
)
def test_every_copy_of_the_version_is_checked_naming_file_and_line(
    copy: Path, path: Path, pattern: str, replacement: str, named: str
) -> None:
    text = (copy / path).read_text()
    changed, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert count == 1
    (copy / path).write_text(changed)
    original = re.search(pattern, text, flags=re.MULTILINE)
    assert original is not None
    line = text[: original.start()].count("\n") + 1
    result = release_info(copy, "--tag", f"v{VERSION}", "--owner", "acs-exporter")
    assert result.returncode == 1
    assert result.stderr == (
        f"release: {path}:{line}: {named} is '9.9.9', expected {VERSION!r} "
        "(pyproject.toml [project] version)\n"
    )


def test_bumping_pyproject_alone_is_caught_everywhere(copy: Path) -> None:
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(f'version = "{VERSION}"', 'version = "9.9.9"')
    )
    result = release_info(copy, "--tag", "v9.9.9", "--owner", "acs-exporter")
    assert result.returncode == 1
    for named in ("Chart.yaml version", "Chart.yaml appVersion", "Dockerfile ARG VERSION"):
        assert named in result.stderr


def test_a_fork_must_point_the_chart_at_its_own_image(copy: Path) -> None:
    """The workflow pushes to ghcr.io/<owner>; a chart still pointing elsewhere is refused."""
    result = release_info(copy, "--tag", f"v{VERSION}", "--owner", "SomeFork")
    assert result.returncode == 1
    assert "pushes to 'ghcr.io/somefork/acs-exporter'" in result.stderr
    assert f"{CHART}/values.yaml:" in result.stderr
    values = copy / CHART / "values.yaml"
    values.write_text(
        values.read_text().replace("acs-exporter/acs-exporter", "somefork/acs-exporter")
    )
    result = release_info(copy, "--tag", f"v{VERSION}", "--owner", "SomeFork")
    assert result.returncode == 0, result.stderr
    assert "image=ghcr.io/somefork/acs-exporter\n" in result.stdout


# Where the docs name the version in something a reader copies: an image tag, a chart
# version, the appVersion, the --version line. docs/releasing.md shows the *next* release
# (0.2.0) on purpose: it is the one page about bumping.
DOC_VERSION = re.compile(
    r"acs-exporter:(\d+\.\d+\.\d+)"
    r"|charts/acs-exporter --version (\d+\.\d+\.\d+)"
    r"|`appVersion` \((\d+\.\d+\.\d+)\)"
    r"|acs-exporter, version (\d+\.\d+\.\d+)"
)


def test_the_docs_name_only_the_current_version() -> None:
    pages = [REPO / "README.md", REPO / "Dockerfile", REPO / CHART / "README.md"]
    pages += sorted((REPO / "docs").glob("*.md"))
    stale = []
    for page in pages:
        if page.name == "releasing.md":
            continue
        for number, line in enumerate(page.read_text().splitlines(), start=1):
            for match in DOC_VERSION.finditer(line):
                named = next(group for group in match.groups() if group)
                if named != VERSION:
                    stale.append(f"{page.relative_to(REPO)}:{number}: {match[0]}")
    assert stale == [], f"the version is {VERSION}:\n" + "\n".join(stale)
