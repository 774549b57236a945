"""SIGHUP on the real process: re-read and validate the configuration, as Prometheus does.

A valid new configuration is applied while counts and cursors stay (nothing lost, nothing
counted twice, also for a source whose settings changed and whose poller was replaced); an
invalid one is logged and the old one keeps running; the process never dies of SIGHUP.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from support.daemon_helpers import Running, samples, start

pytestmark = pytest.mark.e2e

LINE = (
    b'{"category":"CallSummary","properties":{"participantEndReason":"%d",'
    b'"participantEndSubCode":"0"}}\n'
)


def write_calls(path: Path, count: int, code: int = 0) -> None:
    with path.open("ab") as out:
        out.write(b"".join(LINE % code for _ in range(count)))


def files_source(name: str, path: Path, interval: str = "200ms") -> dict[str, Any]:
    return {"type": "files", "name": name, "paths": [str(path)], "poll_interval": interval}


def write_config(path: Path, **sections: Any) -> None:
    path.write_text(yaml.safe_dump({"log": {"format": "json"}, **sections}))


def metric(running: Running, name: str, **labels: str) -> float | None:
    text = running.metrics()
    return samples(text, name).get(tuple(sorted(labels.items())))


def read(running: Running, source: str) -> float:
    return metric(running, "acs_exporter_records_read_total", source=source) or 0.0


def entries(running: Running) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in running.log().splitlines() if line.startswith("{")]


def wait_for(
    condition: Callable[[], bool], what: str, running: Running, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise AssertionError(f"exporter exited {running.process.returncode}: {running.log()}")
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: {running.log()}")


def logged(running: Running, message: str) -> Callable[[], bool]:
    return lambda: any(e["msg"] == message for e in entries(running))


FAILED = "configuration reload failed; still running the previous configuration"


def count_logged(running: Running, message: str) -> int:
    return sum(e["msg"] == message for e in entries(running))


def test_a_valid_new_configuration_is_applied_and_the_counts_stay(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_calls(a, 30)
    write_calls(b, 7, code=487)
    state = tmp_path / "checkpoint.json"
    config = tmp_path / "config.yaml"
    write_config(config, state={"path": str(state)}, sources=[files_source("a", a, "5s")])
    running = start(["--config.file", str(config)], tmp_path)
    try:
        running.wait_ready()
        wait_for(lambda: read(running, "a") == 30, "source a", running)
        loaded = metric(running, "acs_exporter_config_last_reload_success_timestamp_seconds")
        assert metric(running, "acs_exporter_config_last_reload_successful") == 1.0
        # Change a's poll interval (its poller is replaced), add b, log at debug.
        write_config(
            config,
            log={"format": "json", "level": "debug"},
            state={"path": str(state)},
            sources=[files_source("a", a, "200ms"), files_source("b", b)],
        )
        running.process.send_signal(signal.SIGHUP)
        wait_for(logged(running, "configuration reloaded"), "the reload", running)
        wait_for(lambda: read(running, "b") == 7, "source b", running)
        assert read(running, "a") == 30  # kept, not reset, not read again
        # The new interval applies: an append is counted within a second, not after 5 s.
        write_calls(a, 5)
        wait_for(lambda: read(running, "a") == 35, "the append to a", running, timeout=4)
        assert metric(running, "acs_exporter_config_last_reload_successful") == 1.0
        stamp = metric(running, "acs_exporter_config_last_reload_success_timestamp_seconds")
        assert stamp is not None
        assert loaded is not None
        assert stamp > loaded
        assert any(e["msg"] == "polled" for e in entries(running))  # log.level applied
        time.sleep(1)
        assert (read(running, "a"), read(running, "b")) == (35, 7)
    finally:
        assert running.stop() == 0, running.log()
    assert "Traceback" not in running.log()


def test_an_invalid_configuration_is_logged_and_the_old_one_runs_on(tmp_path: Path) -> None:
    a = tmp_path / "a.jsonl"
    write_calls(a, 10)
    config = tmp_path / "config.yaml"
    good = {"sources": [files_source("a", a)]}
    write_config(config, **good)
    running = start(["--config.file", str(config)], tmp_path)
    try:
        running.wait_ready()
        wait_for(lambda: read(running, "a") == 10, "source a", running)
        # A value of the wrong type, and then YAML that does not parse.
        bad_sources = [{**files_source("a", a), "batch_records": "many"}]
        for broken in (yaml.safe_dump({"sources": bad_sources}), "sources: [unclosed\n"):
            failures = count_logged(running, FAILED)
            config.write_text(broken)
            running.process.send_signal(signal.SIGHUP)
            wait_for(
                lambda: count_logged(running, FAILED) > failures,  # noqa: B023 (waited here)
                "the rejected reload",
                running,
            )
            assert metric(running, "acs_exporter_config_last_reload_successful") == 0.0
        errors = [e for e in entries(running) if e["level"] == "error"]
        assert "sources[0].batch_records" in errors[0]["error"], errors
        assert f"{config}:" in errors[1]["error"], errors  # file:line of the syntax error
        # The old configuration still counts.
        write_calls(a, 4)
        wait_for(lambda: read(running, "a") == 14, "the append", running)
        # A burst of signals: each one a reload attempt, none fatal.
        for _ in range(5):
            running.process.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert running.process.poll() is None
        # Fixed again: the reload succeeds.
        write_config(config, **good)
        running.process.send_signal(signal.SIGHUP)
        wait_for(
            lambda: metric(running, "acs_exporter_config_last_reload_successful") == 1.0,
            "the good reload",
            running,
        )
        assert read(running, "a") == 14
    finally:
        assert running.stop() == 0, running.log()
    assert "Traceback" not in running.log()


def test_a_key_that_needs_a_restart_is_named_and_keeps_its_running_value(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    write_config(config, sources=[{"type": "simulator", "poll_interval": "200ms"}])
    running = start(["--config.file", str(config)], tmp_path)
    try:
        running.wait_ready()
        write_config(
            config,
            metrics={"extra_labels": ["call_type"]},
            state={"path": str(tmp_path / "elsewhere.json")},
            sources=[{"type": "simulator", "poll_interval": "200ms"}],
        )
        running.process.send_signal(signal.SIGHUP)
        wait_for(logged(running, "configuration reloaded"), "the reload", running)
        warning = next(e for e in entries(running) if e["msg"].startswith("these settings"))
        assert warning["keys"] == ["state.path", "metrics.extra_labels"]
        assert running.get("/metrics")[0] == 200  # same listener
        assert not (tmp_path / "elsewhere.json").exists()
    finally:
        assert running.stop() == 0, running.log()


def test_catalog_overrides_are_re_read_and_a_broken_one_is_refused(tmp_path: Path) -> None:
    calls = tmp_path / "calls.jsonl"
    write_calls(calls, 3, code=4242)
    override = tmp_path / "overrides.yaml"
    override.write_text("entries: []\n")
    config = tmp_path / "config.yaml"
    write_config(config, catalog={"overrides": [str(override)]}, sources=[files_source("f", calls)])
    running = start(["--config.file", str(config)], tmp_path)

    def categories() -> dict[str, float]:
        ends = samples(running.metrics(), "acs_call_ends_total")
        return {dict(k)["category"]: v for k, v in ends.items() if dict(k)["code"] == "4242"}

    try:
        running.wait_ready()
        wait_for(lambda: categories() == {"Unknown": 3.0}, "the unknown code", running)
        # Same path, new content: a reload re-reads it. Later calls get the new category.
        override.write_text(
            "entries:\n  - code: 4242\n    subcode: 0\n    category: ExpectedError\n"
            "    message: Our own code\n    advice: Nothing to do.\n"
        )
        running.process.send_signal(signal.SIGHUP)
        wait_for(logged(running, "configuration reloaded"), "the reload", running)
        write_calls(calls, 2, code=4242)
        wait_for(
            lambda: categories() == {"Unknown": 3.0, "ExpectedError": 2.0}, "new calls", running
        )
        info = samples(running.metrics(), "acs_end_reason_info")
        assert any(dict(k).get("message") == "Our own code" for k in info)
        # A broken override is a failed reload: the catalog in use stays.
        override.write_text("entries:\n  - code: abc\n    category: Sucess\n")
        running.process.send_signal(signal.SIGHUP)
        wait_for(
            lambda: metric(running, "acs_exporter_config_last_reload_successful") == 0.0,
            "the refused reload",
            running,
        )
        error = next(e for e in entries(running) if e["msg"] == FAILED)["error"]
        assert "overrides.yaml:2" in error, error
        write_calls(calls, 1, code=4242)
        wait_for(
            lambda: categories() == {"Unknown": 3.0, "ExpectedError": 3.0}, "still new", running
        )
    finally:
        assert running.stop() == 0, running.log()
