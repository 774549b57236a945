"""`acs-exporter run` on the simulator, up to ready, imports only what it uses.

A real process under `python -X importtime` (every module it imports, at any point, is one line
on stderr), stopped once `/readyz` answers 200. No Azure SDK (only a Log Analytics source needs
it), no OpenTelemetry (only the OTLP push), no pydantic-settings or asyncio (only an
`ACS_EXPORTER_*` variable needs them), no PyYAML (only a configuration file needs it), no
catalog YAML loader or schema (the shipped catalog loads from its prebuilt form:
catalog/prebuilt.py), and no other subcommand's module. Nor does the CLI have pydantic look up
its plugins (cli.py, PLUGINS_VARIABLE).
"""

from __future__ import annotations

import os
import re
import subprocess
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
    # No configuration file is given: PyYAML is loaded only to read one (config.py, _read_yaml;
    # the parsed-document types live in inputs/document.py, which needs no YAML).
    "yaml",
    "acs_exporter.inputs.safeyaml",
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


# A process that runs the CLI and reports whether pydantic looked up its plugins (the entry
# points of every installed distribution: ~30 ms of each start on the build machine).
PLUGIN_LOOKUP_PROBE = """
import importlib.metadata, sys
looked_up = []
real = importlib.metadata.entry_points
def spy(**selection):
    looked_up.append(selection.get("group"))
    return real(**selection)
importlib.metadata.entry_points = spy  # before pydantic's plugin loader binds the name
from acs_exporter.cli import main
code = main(["check-config"])
print("PLUGIN-LOOKUPS", looked_up.count("pydantic"), file=sys.stderr)
sys.exit(code)
"""


def _plugin_lookups(env: dict[str, str]) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PLUGIN_LOOKUP_PROBE],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    match = re.search(r"PLUGIN-LOOKUPS (\d+)", done.stderr)
    assert match is not None, done.stderr[-2000:]
    return int(match[1])


def test_the_cli_skips_pydantics_plugin_lookup_unless_the_variable_is_set() -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ACS_EXPORTER_", "PYDANTIC_"))}
    assert _plugin_lookups(base) == 0
    # An operator who sets the variable decides: empty enables every plugin, as in pydantic.
    assert _plugin_lookups({**base, "PYDANTIC_DISABLE_PLUGINS": ""}) == 1
