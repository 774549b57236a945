"""(3) Peak RSS of the running daemon serving 10,000 series.

Starts the real `acs-exporter run` process on a checkpoint holding 10,000 outcome series (plus
the simulator's own), lets it poll and persist for a few seconds while scraping `/metrics` in
both formats, then reads the kernel's high-water mark of the process's resident set (VmHWM in
/proc/PID/status, Linux).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml
from tests.support.ports import free_port

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, LabelPlan
from acs_exporter.pipeline.aggregate import Resolver, summarise
from acs_exporter.pipeline.checkpoint import Checkpoint
from acs_exporter.pipeline.state import State
from acs_exporter.sources.base import Batch
from bench.bench_render import SERIES, observations
from bench.result import Result

TARGET_MB = 150.0
RUN_SECONDS = 6.0


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status (Linux only)")


def _seed_checkpoint(path: Path, plan: LabelPlan) -> None:
    delta = summarise(Batch({CALL_SUMMARY: observations(SERIES)}), Resolver(load_catalog()), plan)
    Checkpoint(path, plan).save(State().apply("simulator", delta, None, SERIES * 2))


def _get(url: str, accept: str) -> int:
    request = urllib.request.Request(url, headers={"Accept": accept, "Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return len(response.read())


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        plan = LabelPlan(extra_labels=("call_type",))
        state = directory / "state.ckpt"
        _seed_checkpoint(state, plan)
        config = directory / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "metrics": {"extra_labels": ["call_type"], "max_series": SERIES * 2},
                    "state": {"path": str(state)},
                    "log": {"level": "warn"},
                    "sources": [{"type": "simulator", "time_scale": 10, "poll_interval": "1s"}],
                }
            )
        )
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "acs_exporter.cli",
                "run",
                "--config.file",
                str(config),
                "--web.listen-address",
                f"127.0.0.1:{port}",
            ],
            env={k: v for k, v in os.environ.items() if not k.startswith("ACS_EXPORTER_")},
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(url + "/readyz", timeout=5) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the exporter did not become ready")
                time.sleep(0.1)
            scrapes = 0
            end = time.monotonic() + RUN_SECONDS
            while time.monotonic() < end:
                _get(url + "/metrics", "text/plain")
                _get(url + "/metrics", "application/openmetrics-text; version=1.0.0")
                scrapes += 2
            with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
                body = response.read().decode()
            series = sum(1 for line in body.splitlines() if line.startswith("acs_call_ends_total"))
            peak = _peak_rss_mb(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    return [
        Result(
            "rss",
            f"peak RSS of the daemon, {series:,} acs_call_ends series, {scrapes} scrapes (MB)",
            f"{peak:.1f}",
            f"<= {TARGET_MB:.0f}",
            peak <= TARGET_MB and series >= SERIES,
        )
    ]
