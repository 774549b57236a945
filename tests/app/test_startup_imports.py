"""`acs-exporter run` on the simulator, up to ready, imports only what it uses.

A real process under `python -X importtime` (every module it imports, at any point, is one line
on stderr), stopped once `/readyz` answers 200. No Azure SDK (only a Log Analytics source needs
it), no OpenTelemetry (only the OTLP push), no pydantic-settings or asyncio (only an
`ACS_EXPORTER_*` variable needs them), no catalog YAML loader or schema (the shipped
catalog loads from its prebuilt form: catalog/prebuilt.py), and no other subcommand's module.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tests.support.daemon_helpers import assert_exited_cleanly, killed_if_left_running, start

NOT_IMPORTED = (
    "azure",
    "opentelemetry",
    "acs_exporter.catalog.loader",
    "acs_exporter.catalog.schema",
    # The other subcommands' modules (cli.py imports only the one a command line runs).
    "acs_exporter.commands.explain",
    "acs_exporter.commands.verdict",
    "acs_exporter.commands.catalog",
    "acs_exporter.commands.query",
    # No ACS_EXPORTER_* variable is set: the settings are validated without pydantic-settings,
    # whose environment source (and the asyncio it imports) is loaded only to read one
    # (config.py, _environment_values).
    "pydantic_settings",
    "asyncio",
)
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \| *(\S+)$", re.MULTILINE)


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_run_on_the_simulator_imports_no_azure_opentelemetry_or_catalog_loader(
    tmp_path: Path,
) -> None:
    command = [sys.executable, "-X", "importtime", "-m", "acs_exporter.cli"]
    with killed_if_left_running(start([], tmp_path, command=command)) as running:
        running.wait_ready(timeout=60)
        code = running.stop()
    log = running.log()
    imported = set(IMPORT_LINE.findall(log))
    assert "acs_exporter.app" in imported, log[-2000:]  # the importtime lines were captured
    unwanted = sorted(m for m in imported if any(_under(m, p) for p in NOT_IMPORTED))
    assert unwanted == []
    assert_exited_cleanly(running, code)
