"""What the workflows promise, read from their YAML (GitHub cannot run here; actionlint checks
their syntax and expressions in test_linters.py): CI runs the README's test command on Debian
12; a v* tag releases a multi-arch image with SBOM and provenance, the chart and a GitHub
release; every action is pinned by version; every job asks for the least it needs, as
docs/releasing.md tells."""

from __future__ import annotations

import re
from typing import Any

import yaml

from conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"
RELEASING = (REPO / "docs" / "releasing.md").read_text()


def workflow(name: str) -> dict[Any, Any]:
    loaded = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(loaded, dict)
    # YAML 1.1 reads the key `on` as True.
    loaded["on"] = loaded.pop(True, loaded.get("on"))
    return loaded


CI = workflow("ci.yml")
RELEASE = workflow("release.yml")


def steps(flow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in flow["jobs"].values() for step in job["steps"]]


def test_ci_runs_the_readme_test_command_on_debian_12_on_every_push_and_pull_request() -> None:
    assert set(CI["on"]) == {"push", "pull_request"}
    (job,) = CI["jobs"].values()
    assert job["container"] == "debian:12"
    assert job["env"]["CI"] == "true"
    runs = [step.get("run", "") for step in job["steps"]]
    assert runs[-1].strip().endswith("bash .ci/run")
    assert "./dev test" in (REPO / ".ci" / "run").read_text()


def test_ci_checks_out_the_seeds_beside_the_clone_or_fails_saying_so() -> None:
    (job,) = CI["jobs"].values()
    checkouts = [
        step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/checkout@")
    ]
    assert [step["with"]["path"] for step in checkouts] == ["acs-exporter", "shared"]
    guard = next(step for step in job["steps"] if "SEEDS_REPOSITORY" in str(step.get("if", "")))
    assert "::error::" in guard["run"]
    assert "exit 1" in guard["run"]
    assert job["steps"][-1]["working-directory"] == "acs-exporter"


def test_every_action_is_pinned_to_a_full_version() -> None:
    for flow in (CI, RELEASE):
        for step in steps(flow):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+\.\d+\.\d+", step["uses"]), step["uses"]


def test_release_runs_on_version_tags_only() -> None:
    assert RELEASE["on"] == {"push": {"tags": ["v*"]}}


def test_the_image_is_multi_arch_with_sbom_provenance_and_build_info() -> None:
    build = next(
        s for s in steps(RELEASE) if str(s.get("uses", "")).startswith("docker/build-push-action@")
    )
    settings = build["with"]
    assert settings["platforms"] == "linux/amd64,linux/arm64"
    assert (settings["push"], settings["sbom"], settings["provenance"]) == (True, True, "mode=max")
    assert settings["labels"] == "${{ steps.meta.outputs.labels }}"
    build_args = dict(line.split("=", 1) for line in settings["build-args"].splitlines())
    assert set(build_args) == {"VERSION", "REVISION", "CREATED"}
    used = {str(s.get("uses", "")).split("@")[0] for s in steps(RELEASE)}
    assert {
        "docker/setup-qemu-action",
        "docker/setup-buildx-action",
        "docker/login-action",
        "docker/metadata-action",
        "azure/setup-helm",
    } <= used
    runs = " ".join(str(s.get("run", "")) for s in steps(RELEASE))
    assert "helm push" in runs
    assert "gh release create" in runs
    assert "--generate-notes" in runs


def test_every_release_job_has_least_privilege_permissions_as_documented() -> None:
    assert RELEASE["permissions"] == {}
    assert CI["permissions"] == {"contents": "read"}
    for name, job in RELEASE["jobs"].items():
        permissions = job["permissions"]
        writes = {scope for scope, level in permissions.items() if level == "write"}
        assert writes <= {"packages", "contents"}, name
        documented = ", ".join(f"`{scope}: {level}`" for scope, level in permissions.items())
        assert f"| `{name}` | {documented} |" in RELEASING, name
    assert RELEASE["jobs"]["github-release"]["permissions"] == {"contents": "write"}
    assert RELEASE["jobs"]["check"]["permissions"] == {"contents": "read"}
