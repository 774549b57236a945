"""Start the real exporter process and talk to it over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from prometheus_client.parser import text_string_to_metric_families

from support.ports import free_port

EXPORTER = [sys.executable, "-m", "acs_exporter.cli"]


@dataclass
class Running:
    process: subprocess.Popen[str]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, str]:
        request = urllib.request.Request(self.url + path, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metrics(self) -> str:
        status, body = self.get("/metrics")
        assert status == 200, body
        return body

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"exporter exited {self.process.returncode}: {self.log()}")
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"exporter not ready after {timeout}s: {self.log()}")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20.0) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def start(
    args: Sequence[str],
    tmp_path: Path,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    command: Sequence[str] = EXPORTER,
) -> Running:
    """`command run` on 127.0.0.1:`port` (a free one by default), its output in a log file.

    The environment is this one without ACS_EXPORTER_* (so the caller's shell cannot change the
    configuration under test), plus `env`. `command` is the exporter's CLI, or a wrapper of it.
    """
    port = port or free_port()
    log_path = tmp_path / f"exporter-{port}.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ACS_EXPORTER_")}
    environment.update(env or {})
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*command, "run", "--web.listen-address", f"127.0.0.1:{port}", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
    return Running(process, port, log_path)


def wait_for(
    condition: Callable[[], bool], what: str, running: Running, timeout: float = 60
) -> None:
    """Poll `condition`; fail with the exporter's log if it exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if running.process.poll() is not None:
            raise AssertionError(f"exporter exited {running.process.returncode}: {running.log()}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: {running.log()}")


@contextmanager
def killed_if_left_running(running: Running) -> Iterator[Running]:
    """A test that fails while the exporter runs must not leave the process behind."""
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()


def assert_exited_cleanly(running: Running, code: int) -> str:
    """Exit 0 and no traceback in the log; the log, for further checks."""
    log = running.log()
    assert code == 0, log
    assert "Traceback" not in log
    return log


class LocalLogAnalytics(Protocol):
    """What a config needs of tests/sources/loganalytics/fake_server.py's FakeLogAnalytics."""

    @property
    def url(self) -> str: ...

    ca_file: Path


def log_analytics_config(
    server: LocalLogAnalytics, workspace: str, state: Path, **source: object
) -> dict[str, Any]:
    """JSON logs, a checkpoint at `state` and one Log Analytics source `la` polling the local
    server every second; `source` adds to or overrides that source's settings."""
    return {
        "log": {"format": "json", "level": "info"},
        "state": {"path": str(state)},
        "sources": [
            {
                "type": "log_analytics",
                "name": "la",
                "workspace_ids": [workspace],
                "endpoint": server.url,
                "tls_ca_file": str(server.ca_file),
                "poll_interval": "1s",
                **source,
            }
        ],
    }


def run_cli(
    args: Sequence[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ACS_EXPORTER_")}
    environment.update(env or {})
    return subprocess.run(
        [*EXPORTER, *args], capture_output=True, text=True, env=environment, timeout=60, check=False
    )


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Samples of one sample name, keyed by sorted label pairs."""
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out
