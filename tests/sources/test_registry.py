"""A new source type is its own module plus one registry entry: a test-only type goes through
config validation (check-config), wiring and daemon polls of a real `run` process, with its
reasons zero-initialised, without any other file of the exporter knowing it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from acs_exporter.sources import registry
from support.daemon_helpers import killed_if_left_running, samples, start, wait_for

WRAPPER = [
    sys.executable,
    str(Path(__file__).resolve().parents[1] / "support" / "extra_source_main.py"),
]


def run_wrapper(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WRAPPER, *args], capture_output=True, text=True, timeout=120, check=False
    )


def write_config(tmp_path: Path, body: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(body)
    return config


GOOD = """\
sources:
  - type: constant
    name: fixed
    code: 487
    subcode: 0
    calls: 3
    poll_interval: 200ms
  - type: simulator
"""


def test_a_registered_type_is_validated_like_the_builtin_ones(tmp_path: Path) -> None:
    ok = run_wrapper("check-config", str(write_config(tmp_path, GOOD)))
    assert ok.returncode == 0, ok.stderr
    assert "type: constant" in ok.stdout
    bad = write_config(tmp_path, GOOD.replace("code: 487", "code: 4870"))
    failed = run_wrapper("check-config", str(bad))
    assert failed.returncode == 2, failed.stdout
    assert "sources[0].code" in failed.stderr
    assert f"{bad}:4" in failed.stderr  # file:line of the value
    unknown = run_wrapper("check-config", str(write_config(tmp_path, "sources: [{type: nope}]")))
    assert unknown.returncode == 2
    assert "simulator, files, log_analytics, azure_metrics, constant" in unknown.stderr


def test_the_plain_exporter_does_not_know_the_test_type(tmp_path: Path) -> None:
    plain = subprocess.run(
        [
            sys.executable,
            "-m",
            "acs_exporter.cli",
            "check-config",
            str(write_config(tmp_path, GOOD)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert plain.returncode == 2
    assert "unknown source type" in plain.stderr


def test_a_registered_type_is_wired_and_polled_by_the_daemon(tmp_path: Path) -> None:
    config = write_config(tmp_path, GOOD)
    with killed_if_left_running(
        start(["--config.file", str(config)], tmp_path, command=WRAPPER)
    ) as running:
        running.wait_ready(timeout=60)

        def counted() -> dict[tuple[tuple[str, str], ...], float]:
            return samples(running.metrics(), "acs_exporter_records_read_total")

        wait_for(lambda: counted().get((("source", "fixed"),), 0) >= 6, "two polls", running)
        text = running.metrics()
        errors = samples(text, "acs_exporter_query_errors_total")
        for reason in ("constant_unplugged", "bad_cursor", "checkpoint_write", "internal"):
            assert errors[(("reason", reason), ("source", "fixed"))] == 0.0, reason
        assert running.stop() == 0


def test_registering_after_the_model_is_built_is_refused() -> None:
    import acs_exporter.config  # noqa: F401 - builds the model, freezing the registry

    entry = registry.SourceType("late", registry.source_type("simulator").settings, print)
    with pytest.raises(RuntimeError, match=r"before importing acs_exporter\.config"):
        registry.register(entry)
    assert "late" not in {t.name for t in registry.source_types()}


def test_check_config_reads_each_saved_cursor_with_its_types_format(tmp_path: Path) -> None:
    """A source whose `type` changed under the same name finds another type's cursor in the
    checkpoint: check-config says so (as run's polls would, with bad_cursor), naming the
    source; a cursor of the previous release passes."""
    from acs_exporter.definitions.tables import LabelPlan
    from acs_exporter.pipeline.aggregate import Delta
    from acs_exporter.pipeline.checkpoint import Checkpoint
    from acs_exporter.pipeline.state import State
    from acs_exporter.sources.loganalytics.cursor import dump_cursor

    state = tmp_path / "state.json"
    config = write_config(tmp_path, f"state: {{path: {state}}}\nsources: [{{type: simulator}}]\n")
    legacy = {"version": 1, "seed": 1, "origin": 0, "position": 0, "anchor_wall": 0.0}
    legacy |= {"anchor_sim": 0.0, "time_scale": 1.0}
    for cursor, code in ((legacy, 0), (dump_cursor({}), 1)):
        state.unlink(missing_ok=True)
        Checkpoint(state, LabelPlan()).save(State().apply("simulator", Delta(), cursor, 2000))
        result = run_wrapper("check-config", "--quiet", str(config))
        assert result.returncode == code, result.stderr
    assert "source 'simulator'" in result.stderr
    assert "it was written by a 'log_analytics' source" in result.stderr
    assert "Traceback" not in result.stderr


def test_reading_the_configuration_imports_no_source_module() -> None:
    """The registry gives config every type's settings and cursor format, but a source's module
    (its readers, tqdm, the Azure SDK) is imported only when that source is built: a process
    that reads the configuration does not pay for sources it does not run."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, acs_exporter.config; print('\\n'.join(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    sources = [
        "acs_exporter.sources.files.source",
        "acs_exporter.sources.simulator.source",
        "acs_exporter.sources.loganalytics.source",
        "tqdm",
        "azure.monitor.query",
    ]
    assert [name for name in sources if name in loaded] == []
