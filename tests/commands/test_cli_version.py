"""`acs-exporter --version`: version, commit and build date, node_exporter style. The image
build stamps the commit and date (tests/image checks the Dockerfile step and runs it on an
installed wheel); a checkout asks git; without either both read "unknown"."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from acs_exporter import __version__, build_info
from acs_exporter.cli import main
from conftest import REPO

LINE = re.compile(
    r"acs-exporter, version (?P<version>\S+) \(revision: (?P<revision>\S+), built: (?P<built>\S+)\)"
)
SHA = "0123456789abcdef0123456789abcdef01234567"


def version_output(env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`acs-exporter --version` in a real process (the console script's interpreter)."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from acs_exporter.cli import main; sys.exit(main())",
            "--version",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )


def stamp_step(revision: str, built: str, stamp: Path) -> subprocess.CompletedProcess[str]:
    """The image build's step, `python -m acs_exporter.build_info`, in a real process."""
    command = ["-m", "acs_exporter.build_info", "--revision", revision, "--built", built]
    return subprocess.run(
        [sys.executable, *command, "--stamp", str(stamp)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_version_flag_prints_version_revision_and_build_date(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out, err = capsys.readouterr()
    assert err == ""
    match = LINE.fullmatch(out.strip())
    assert match, out
    assert match["version"] == __version__


def test_a_checkout_reports_its_git_commit() -> None:
    if Path(build_info.__file__).resolve().parent != REPO / "exporter" / "acs_exporter":
        pytest.skip("acs_exporter is not installed from this checkout (pip install -e .)")
    git = shutil.which("git")
    assert git, "the tests run from a git checkout"
    head = subprocess.run(
        [git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout.strip()
    result = version_output()
    assert result.returncode == 0, result.stderr
    match = LINE.fullmatch(result.stdout.strip())
    assert match, result.stdout
    assert (match["version"], match["revision"], match["built"]) == (__version__, head, "unknown")


def test_without_git_the_commit_is_unknown() -> None:
    result = version_output({**os.environ, "PATH": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout
        == f"acs-exporter, version {__version__} (revision: unknown, built: unknown)\n"
    )


def test_a_package_outside_our_checkout_does_not_borrow_its_commit(tmp_path: Path) -> None:
    """A site-packages inside some other git repository: its HEAD is not our commit."""
    other = tmp_path / "other"
    package = other / "lib" / "acs_exporter"
    package.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(other)], check=True, timeout=60)
    assert build_info.git_revision(package) == "unknown"
    assert build_info.git_revision(tmp_path / "nowhere") == "unknown"


def test_the_stamp_wins_and_is_written_by_the_module(tmp_path: Path) -> None:
    stamp = tmp_path / "build_info.json"
    result = stamp_step(SHA, "2026-12-01T14:00:00Z", stamp)
    assert result.returncode == 0, result.stderr
    expected = f"acs-exporter, version {__version__} (revision: {SHA}, built: 2026-12-01T14:00:00Z)"
    assert result.stdout == expected + "\n"
    assert build_info.current(stamp).version_line() == expected


@pytest.mark.parametrize(
    ("revision", "built", "named"),
    [
        ("", "2026-12-01T14:00:00Z", "revision ''"),
        ("main; rm -rf /", "2026-12-01T14:00:00Z", "revision 'main; rm -rf /'"),
        (SHA, "yesterday", "build date 'yesterday'"),
        (SHA, "", "build date ''"),
    ],
)
def test_the_image_build_refuses_a_bad_revision_or_date(
    tmp_path: Path, revision: str, built: str, named: str
) -> None:
    """A workflow that passes nothing (or garbage) fails the image build, naming the value."""
    stamp = tmp_path / "build_info.json"
    result = stamp_step(revision, built, stamp)
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr
    assert not stamp.exists()


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps(["revision"]),
        json.dumps({"revision": SHA}),
        json.dumps({"revision": "zz", "built": "unknown"}),
        json.dumps({"revision": SHA, "built": "soon", "extra": 1}),
    ],
)
def test_a_bad_stamp_is_named_never_a_traceback(tmp_path: Path, content: str) -> None:
    stamp = tmp_path / "build_info.json"
    stamp.write_text(content)
    with pytest.raises(build_info.BuildInfoError, match=re.escape(str(stamp))):
        build_info.current(stamp)


def test_the_package_version_is_pyprojects() -> None:
    """The one place: pyproject.toml's version reaches the package through its metadata
    (`make` reinstalls the editable package whenever pyproject.toml changes)."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert __version__ == pyproject["project"]["version"]
