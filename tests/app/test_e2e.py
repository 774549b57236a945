"""The real process: simulator counts over HTTP, SIGTERM, restart continuity, promtool."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
import yaml

from acs_exporter.catalog import MalformedCode, parse_code, parse_subcode
from conftest import require_tool
from support.daemon_helpers import samples, start

pytestmark = pytest.mark.e2e


def write_config(tmp_path: Path, *, time_scale: float, record_file: Path, state: Path) -> Path:
    config = {
        "log": {"format": "json", "level": "info"},
        "state": {"path": str(state)},
        "sources": [
            {
                "type": "simulator",
                "seed": 7,
                "calls_per_second": 50,
                "time_scale": time_scale,
                "poll_interval": "100ms",
                "record_file": str(record_file),
            }
        ],
    }
    path = tmp_path / f"config-{time_scale}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def label(value: object) -> str:
    try:
        return str(parse_code(value))
    except MalformedCode:
        return "malformed"


def subcode_label(value: object) -> str:
    """A missing subcode (null, "", blanks) is labelled none, never malformed."""
    try:
        subcode = parse_subcode(value)
    except MalformedCode:
        return "malformed"
    return "none" if subcode is None else str(subcode)


def recorded_totals(record_file: Path, table: str | None = None) -> Counter[tuple[str, str]]:
    """Call ends (table None) or media results, as the simulator recorded them."""
    totals: Counter[tuple[str, str]] = Counter()
    for line in record_file.read_bytes().splitlines():
        record = orjson.loads(line)
        if record.get("table") != table:
            continue
        totals[(label(record["code"]), subcode_label(record["subcode"]))] += record["n"]
    return totals


def scraped_totals(text: str, name: str = "acs_call_ends_total") -> Counter[tuple[str, str]]:
    totals: Counter[tuple[str, str]] = Counter()
    for labels, value in samples(text, name).items():
        pairs = dict(labels)
        totals[(pairs["code"], pairs["subcode"])] += int(value)
    return totals


def test_counts_match_the_simulator_records_across_sigterm_and_restart(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    state = tmp_path / "state" / "checkpoint.json"
    # First run: the simulated clock runs 20x, so a second or two yields thousands of calls.
    first = start(
        [
            "--config.file",
            str(write_config(tmp_path, time_scale=20, record_file=records, state=state)),
        ],
        tmp_path,
    )
    try:
        first.wait_ready()
        time.sleep(1.5)
        during = scraped_totals(first.metrics())
    finally:
        code = first.stop(signal.SIGTERM)
    assert code == 0, first.log()
    assert state.exists()
    produced = recorded_totals(records)
    assert sum(produced.values()) > 1000
    # While running, what was served never exceeds what the simulator had produced.
    assert all(during[key] <= produced[key] for key in during)

    # Second run from the same checkpoint: once caught up, the simulated clock crawls (no new
    # whole simulated second for hours), so the counters must equal every record produced,
    # exactly: nothing lost at SIGTERM, nothing counted twice, no reset on restart.
    second = start(
        [
            "--config.file",
            str(write_config(tmp_path, time_scale=0.0001, record_file=records, state=state)),
        ],
        tmp_path,
    )
    try:
        second.wait_ready()
        text = second.metrics()
    finally:
        assert second.stop(signal.SIGINT) == 0, second.log()
    # (The simulator caught up on the simulated time that passed while it was down.)
    final = recorded_totals(records)
    assert scraped_totals(text) == final
    media = recorded_totals(records, "ACSCallAutomationMediaSummary")
    assert media
    assert scraped_totals(text, "acs_call_automation_media_results_total") == media
    # records read: call ends and media results alike
    assert samples(text, "acs_exporter_records_read_total") == {
        (("source", "simulator"),): float(sum(final.values()) + sum(media.values()))
    }
    logs = [orjson.loads(line) for line in first.log().splitlines()]
    assert {entry["msg"] for entry in logs} >= {"acs-exporter started", "shutting down", "stopped"}


def test_run_without_arguments_serves_simulator_metrics_that_promtool_accepts(
    tmp_path: Path,
) -> None:
    promtool = require_tool("promtool")
    running = start([], tmp_path)
    try:
        running.wait_ready()
        deadline = time.monotonic() + 10
        while not samples(text := running.metrics(), "acs_call_ends_total"):
            assert time.monotonic() < deadline, "no call ends served"
            time.sleep(0.2)
        status, landing = running.get("/")
        health = running.get("/healthz")
    finally:
        assert running.stop() == 0, running.log()
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout + check.stderr == ""
    assert status == 200
    assert "/metrics" in landing
    assert health == (200, "ok\n")
    for name in (
        "acs_exporter_build_info",
        "acs_exporter_source_up",
        "acs_exporter_cursor_lag_seconds",
        "acs_exporter_poll_duration_seconds_count",
        "acs_exporter_polls_total",
        "acs_exporter_series_limit",
    ):
        assert samples(text, name), name
    # One source: no `source` label on the outcome series.
    assert all("source" not in dict(k) for k in samples(text, "acs_call_ends_total"))


def test_corrupt_checkpoint_stops_start_up_with_the_way_out(tmp_path: Path) -> None:
    state = tmp_path / "checkpoint.json"
    state.write_text('{"format": "acs-exporter-checkpoint", "version": 1, "sha256": "00"}\n{}')
    running = start([], tmp_path, env={"ACS_EXPORTER_STATE__PATH": str(state)})
    assert running.process.wait(30) == 1
    log = running.log()
    assert "checksum mismatch" in log
    assert f"mv {state} {state}.broken" in log
    assert "Traceback" not in log
    assert state.read_text().endswith("{}")  # left as it was


def test_config_error_exits_2_naming_key_value_and_expectation(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("metrics:\n  max_series: lots\n")
    running = start(["--config.file", str(config)], tmp_path)
    assert running.process.wait(30) == 2
    log = running.log()
    # Written text is not echoed (it could be a secret): the line points at it.
    assert f"{config}:2: metrics.max_series: Input should be a valid integer" in log
    assert "Traceback" not in log


def test_port_in_use_is_a_clear_start_up_error(tmp_path: Path) -> None:
    first = start([], tmp_path)
    try:
        first.wait_ready()
        second = start([], tmp_path, port=first.port)
        assert second.process.wait(30) == 1
        assert f"cannot listen on 127.0.0.1:{first.port}" in second.log()
    finally:
        assert first.stop() == 0


def test_two_sources_get_a_source_label_and_bad_lines_are_counted(tmp_path: Path) -> None:
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "files" / "diagnostic.jsonl"
    data = tmp_path / "calls.jsonl"
    data.write_bytes(fixture.read_bytes() + b"{not json\n")
    config = tmp_path / "two.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "log": {"format": "text"},
                "sources": [
                    {"type": "simulator", "name": "sim", "time_scale": 10},
                    {
                        "type": "files",
                        "name": "exports",
                        "paths": [str(data)],
                        "progress": False,
                        "poll_interval": "200ms",
                    },
                ],
            }
        )
    )
    running = start(["--config.file", str(config)], tmp_path)
    try:
        running.wait_ready()
        deadline = time.monotonic() + 10
        while True:
            text = running.metrics()
            ends = samples(text, "acs_call_ends_total")
            if {dict(labels)["source"] for labels in ends} == {"sim", "exports"}:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.2)
    finally:
        assert running.stop() == 0, running.log()
    from_files = sum(v for labels, v in ends.items() if dict(labels)["source"] == "exports")
    assert from_files == samples(text, "acs_exporter_records_read_total")[(("source", "exports"),)]
    assert from_files > 0
    rejected = samples(text, "acs_exporter_records_rejected_total")
    # The fixture's own bad lines, plus the one added here, each counted under its reason.
    assert rejected[(("reason", "invalid_json"), ("source", "exports"))] >= 1
    # Known reasons are exported from start-up at 0 (writing-exporters guide).
    assert rejected[(("reason", "unknown_format"), ("source", "exports"))] == 0
    errors = samples(text, "acs_exporter_query_errors_total")
    assert errors[(("reason", "record_file"), ("source", "sim"))] == 0
    assert errors[(("reason", "internal"), ("source", "exports"))] == 0
    assert samples(text, "acs_exporter_polls_total")[(("outcome", "error"), ("source", "sim"))] == 0
    assert f"{data}:" in running.log()  # the source names file:line of what it rejected
    # Text logs: human-readable lines, not JSON.
    assert " info acs_exporter: acs-exporter started " in running.log()


def test_counters_never_go_down_across_sigkill(tmp_path: Path) -> None:
    state = tmp_path / "state.ckpt"
    records = tmp_path / "records.jsonl"
    config = write_config(tmp_path, time_scale=50, record_file=records, state=state)
    seen: dict[tuple[tuple[str, str], ...], float] = {}
    for _ in range(3):
        running = start(["--config.file", str(config)], tmp_path)
        try:
            running.wait_ready()
            for _ in range(5):
                current = samples(running.metrics(), "acs_call_ends_total")
                for labels, value in seen.items():
                    assert current.get(labels, 0.0) >= value, labels
                seen = current
                time.sleep(0.1)
        finally:
            running.process.kill()  # no clean shutdown: a crash
            running.process.wait(10)
    assert sum(seen.values()) > 0


def test_two_exporters_cannot_share_a_checkpoint(tmp_path: Path) -> None:
    env = {"ACS_EXPORTER_STATE__PATH": str(tmp_path / "state.ckpt")}
    first = start([], tmp_path, env=env)
    try:
        first.wait_ready()
        second = start([], tmp_path, env=env)
        assert second.process.wait(30) == 1
        assert "another acs-exporter process holds" in second.log()
        assert "each exporter its own state.path" in second.log()
    finally:
        assert first.stop() == 0
    # Once the first has exited, the lock is free again.
    third = start([], tmp_path, env=env)
    try:
        third.wait_ready()
    finally:
        assert third.stop() == 0


def test_unwritable_state_directory_stops_start_up(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    running = start([], tmp_path, env={"ACS_EXPORTER_STATE__PATH": str(blocker / "state")})
    assert running.process.wait(30) == 1
    assert "its directory is not writable" in running.log()
