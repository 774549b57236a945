"""Start the real exporter process and talk to it over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

EXPORTER = [sys.executable, "-m", "acs_exporter.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
) -> Running:
    port = port or free_port()
    log_path = tmp_path / f"exporter-{port}.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ACS_EXPORTER_")}
    environment.update(env or {})
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*EXPORTER, "run", "--web.listen-address", f"127.0.0.1:{port}", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
    return Running(process, port, log_path)


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
