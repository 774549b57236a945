"""Time to page with Azure Monitor platform metrics (issue #15), in two parts.

1. Measured live: a real `acs-exporter run` process with an azure_metrics source (settle_delay
   0m, poll_interval 1s) against the local metrics batch API; events of the current minute are
   added, and the time from the end of that minute (when, with no settle delay, its bucket is
   available to the exporter) to the count being served on /metrics is measured. Target: within
   poll_interval + 2 s (the exporter's own overhead: one poll, the snapshot, the scrape).
2. Arithmetic for the rest, which is Prometheus and the alert: the alert has no `for` and fires
   at the evaluation that sees the step (alerts/tests/call-automation-events.test.yaml), so
   worst case = (settle_delay - availability delay) + poll_interval + measured overhead
   + scrape_interval + evaluation_interval. Rows for the defaults and for a fast configuration
   (target: at most 3 minutes from the bucket being available).

Takes up to a minute (it waits for a minute boundary).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from tests.sources.azure_metrics.fake_server import TOKEN, FakeAzureMetrics, minute_of

from bench.result import Result

RESOURCE = (
    "/subscriptions/00000000-0000-4000-8000-00000000000a/resourceGroups/rg/providers/"
    "Microsoft.Communication/communicationServices/bench-acs"
)
POLL_SECONDS = 1.0
AVAILABILITY_DELAY = 60.0  # assumed: a minute's value readable one minute after it ended


def _az(bin_dir: Path) -> None:
    bin_dir.mkdir()
    script = bin_dir / "az"
    script.write_text(
        f"#!{sys.executable}\nimport json, time\n"
        f"print(json.dumps({{'accessToken': {TOKEN!r}, 'expires_on': int(time.time()) + 3600,"
        " 'tokenType': 'Bearer'}))\n"
    )
    script.chmod(0o755)


def _served(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return b"acs_call_automation_events_total{" in response.read()
    except OSError:
        return False


def _exporter_latency(server: FakeAzureMetrics, tmp: Path, port: int) -> float:
    """Seconds from the end of a minute with events to the exporter serving them."""
    config = {
        "log": {"format": "json", "level": "warn"},
        "state": {"path": str(tmp / "checkpoint.json")},
        "sources": [
            {
                "type": "azure_metrics",
                "resource_ids": [RESOURCE],
                "endpoint": server.url,
                "tls_ca_file": str(server.ca_file),
                "poll_interval": f"{POLL_SECONDS:g}s",
                "settle_delay": "0m",
            }
        ],
    }
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    _az(tmp / "bin")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACS_EXPORTER_", "AZURE_"))}
    env["PATH"] = f"{tmp / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["AZURE_TOKEN_CREDENTIALS"] = "AzureCliCredential"
    command = [
        sys.executable,
        "-m",
        "acs_exporter.cli",
        "run",
        "--config.file",
        str(tmp / "config.yaml"),
        "--web.listen-address",
        f"127.0.0.1:{port}",
    ]
    with (tmp / "exporter.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        now = datetime.now(UTC)
        minute = minute_of(now)
        if (now - minute).total_seconds() > 50:  # too close to the boundary: take the next one
            minute += timedelta(minutes=1)
        dims = {"EventTypeName": "PlayFailed", "Code": "400", "SubCode": "8523"}
        server.add(RESOURCE, "AcsCallAutomationCallbackEvent", dims, minute, 25)
        available = (minute + timedelta(minutes=1)).timestamp()
        deadline = available + 60
        while time.time() < deadline and process.poll() is None:
            if _served(port):
                return max(0.0, time.time() - available)
            time.sleep(0.05)
        raise RuntimeError(f"not served: {(tmp / 'exporter.log').read_text()[-2000:]}")
    finally:
        process.terminate()
        process.wait(20)


def _page(settle: float, poll: float, overhead: float, scrape: float, evaluation: float) -> float:
    return max(0.0, settle - AVAILABILITY_DELAY) + poll + overhead + scrape + evaluation


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp, FakeAzureMetrics() as server:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        latency = _exporter_latency(server, Path(tmp), port)
    overhead = max(0.0, latency - POLL_SECONDS)
    defaults = _page(180, 60, overhead, 30, 30)
    fast = _page(120, 30, overhead, 15, 15)
    return [
        Result(
            "azure_metrics",
            "minute end -> served on /metrics (settle 0m, poll 1s, live)",
            f"{latency:.2f} s",
            f"<= {POLL_SECONDS + 2:g} s",
            latency <= POLL_SECONDS + 2,
        ),
        Result(
            "azure_metrics",
            "time to page, defaults (settle 3m, poll 1m, scrape 30s, eval 30s), arithmetic",
            f"{defaults:.0f} s",
        ),
        Result(
            "azure_metrics",
            "time to page, fast (settle 2m, poll 30s, scrape 15s, eval 15s), arithmetic",
            f"{fast:.0f} s",
            "<= 180 s",
            fast <= 180,
        ),
    ]
