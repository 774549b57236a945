"""Run a promtool unit test written by a test (`promtool test rules`), for its output."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from conftest import require_tool


def promtool_test(document: dict[str, Any], path: Path, timeout: float = 300) -> tuple[int, str]:
    """Write `document` (rule_files, tests, ...) to `path` and run promtool on it: its exit
    code and output (stdout then stderr)."""
    path.write_text(yaml.safe_dump(document, width=1 << 20), encoding="utf-8")
    result = subprocess.run(
        [require_tool("promtool"), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    return result.returncode, result.stdout + result.stderr
