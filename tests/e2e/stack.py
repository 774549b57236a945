"""The real acs-exporter and a real Prometheus scraping it, for the end-to-end tests.

`running_stack` writes both configurations (every listener on 127.0.0.1, on free ports), starts
both processes, waits until each answers (a process that exits or never answers fails the test
with its log) and stops both afterwards. The tools come from conftest's require_tool and
require_path: skipped when missing, a failure under CI=true.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import require_path, require_tool
from support.ports import free_port

STARTUP_TIMEOUT_S = 20


def get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
        return body


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} exited with {process.returncode}:\n{log.read_text()}")
        try:
            get(url, timeout=1)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    pytest.fail(f"{url} not ready after {STARTUP_TIMEOUT_S}s:\n{log.read_text()[-4000:]}")


@dataclass
class Prometheus:
    """The query API of a Prometheus server."""

    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        params = urllib.parse.urlencode({"query": expr})
        try:
            body = get(f"{self.url}/api/v1/query?{params}")
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{error}: {error.read().decode()}\n{expr}") from error
        answer = json.loads(body)
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def wait_for(self, expr: str, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.query(expr)
            if result:
                return result
            time.sleep(0.5)
        raise AssertionError(f"no data after {timeout}s for {expr}")


@dataclass
class Running:
    prometheus: Prometheus
    exporter_url: str
    started: float  # time.monotonic() when the exporter was started


def _start(
    command: Sequence[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=None if env is None else dict(env)
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _write_yaml(path: Path, document: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(document)), encoding="utf-8")
    return path


def prometheus_config(exporter_port: int, rules: Path | None) -> dict[str, Any]:
    """Scrape the exporter every second; with `rules`, evaluate them every second too."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "acs-exporter",
                "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
            }
        ],
    }
    if rules is not None:
        config["global"]["evaluation_interval"] = "1s"
        config["rule_files"] = [str(rules)]
    return config


@contextmanager
def running_stack(
    tmp: Path,
    sources: Sequence[Mapping[str, Any]],
    rules: Path | None = None,
    metrics: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[Running]:
    """`acs-exporter run` with these sources (text logs at info) and Prometheus scraping it;
    `metrics`, the exporter's `metrics:` settings (e.g. extra_labels); `env`, the exporter's
    environment (e.g. a stand-in `az` for an Azure source's credential)."""
    prometheus_bin = require_tool("prometheus")
    exporter_bin = require_path(Path(sys.executable).parent / "acs-exporter", "acs-exporter")
    exporter_port, prometheus_port = free_port(), free_port()
    exporter_config = _write_yaml(
        tmp / "acs-exporter.yaml",
        {
            "web": {"listen_address": f"127.0.0.1:{exporter_port}"},
            "log": {"format": "text", "level": "info"},
            "sources": [dict(source) for source in sources],
            **({"metrics": dict(metrics)} if metrics else {}),
        },
    )
    prometheus_yml = _write_yaml(tmp / "prometheus.yml", prometheus_config(exporter_port, rules))

    started = time.monotonic()
    exporter_log = tmp / "exporter.log"
    exporter = _start(
        [str(exporter_bin), "run", "--config.file", str(exporter_config)], exporter_log, env
    )
    prometheus_log = tmp / "prometheus.log"
    prometheus = _start(
        [
            prometheus_bin,
            f"--config.file={prometheus_yml}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        prometheus_log,
    )
    try:
        exporter_url = f"http://127.0.0.1:{exporter_port}"
        wait_until_ready(f"{exporter_url}/metrics", exporter, exporter_log)
        prometheus_url = f"http://127.0.0.1:{prometheus_port}"
        wait_until_ready(f"{prometheus_url}/-/ready", prometheus, prometheus_log)
        yield Running(Prometheus(prometheus_url), exporter_url, started)
    finally:
        _stop(prometheus)
        _stop(exporter)
