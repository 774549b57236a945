"""(HA) Failover time of state.backend azure_blob: leader stopped -> standby counting again.

Two real `acs-exporter run` processes (simulator source) share one checkpoint blob in Azurite
(tools/azurite). The leader is stopped, SIGKILL (the lease must expire) or SIGTERM (it releases
the lease), and the standby's /metrics is scraped until it leads and its call ends have grown
past what it served when the leader stopped. The target is the documented bound: the lease
period plus one refresh interval plus one poll, and 3 s of slack for process start-up work on a
loaded machine.
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
from azure.storage.blob import BlobServiceClient
from prometheus_client.parser import text_string_to_metric_families
from tests.support.azurite import AZURITE_BIN, Azurite
from tests.support.ports import free_port

from bench.result import Result

LEASE_SECONDS = 15.0  # the shortest lease Azure Storage grants
REFRESH_SECONDS = 0.5
POLL_SECONDS = 0.5
SLACK_SECONDS = 3.0
CONTAINER = "bench"


def _scrape(port: int) -> tuple[float, bool] | None:
    """(call ends served, leads) or None while the replica does not answer."""
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    ends, leads = 0.0, False
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "acs_call_ends_total":
                ends += sample.value
            elif sample.name == "acs_exporter_state_leader":
                leads = sample.value == 1
    return ends, leads


def _wait(port: int, *, leads: bool, above: float, timeout: float) -> float:
    """Seconds until replica `port` leads (or not) and serves more than `above` call ends."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        got = _scrape(port)
        if got is not None and got[1] == leads and got[0] > above:
            return time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError(f"replica :{port} did not get there within {timeout}s")


def _leader(ports: list[int], timeout: float) -> int:
    """The port of the replica that leads and has counted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for port in ports:
            got = _scrape(port)
            if got is not None and got[1] and got[0] > 0:
                return port
        time.sleep(0.1)
    raise RuntimeError(f"no replica led within {timeout}s")


class _Pair:
    def __init__(self, workdir: Path, azurite: Azurite) -> None:
        config = {
            "log": {"level": "warn"},
            "state": {
                "backend": "azure_blob",
                "azure_blob": {
                    "container_url": azurite.container_url(CONTAINER),
                    "auth_mode": "connection_string",
                    "lease_duration": f"{LEASE_SECONDS:g}s",
                    "refresh_interval": f"{REFRESH_SECONDS * 1000:g}ms",
                },
            },
            "sources": [
                {
                    "type": "simulator",
                    "calls_per_second": 50,
                    "poll_interval": f"{POLL_SECONDS * 1000:g}ms",
                }
            ],
        }
        self._config = workdir / "config.yaml"
        self._config.write_text(yaml.safe_dump(config))
        self._env = {**os.environ, "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
        self._log = workdir / "exporters.log"
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def launch(self, port: int) -> None:
        with self._log.open("ab") as log:
            self.processes[port] = subprocess.Popen(
                [
                    *(sys.executable, "-m", "acs_exporter.cli", "run"),
                    *("--config.file", str(self._config)),
                    *("--web.listen-address", f"127.0.0.1:{port}"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
            )

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def _failover(pair: _Pair, ports: list[int], sig: signal.Signals) -> tuple[float, list[int]]:
    """Stop the leader with `sig`; seconds until the other counts again. Returns the ports,
    the new leader first (the stopped one is relaunched as a standby)."""
    leader = _leader(ports, 60)
    standby = next(p for p in ports if p != leader)
    _wait(standby, leads=False, above=0.0, timeout=60)  # following the leader's counts
    served = (_scrape(standby) or (0.0, False))[0]
    pair.processes[leader].send_signal(sig)
    seconds = _wait(standby, leads=True, above=served, timeout=LEASE_SECONDS * 4)
    pair.processes[leader].wait(30)
    pair.launch(leader)
    return seconds, [standby, leader]


def run() -> list[Result]:
    if not AZURITE_BIN.exists():
        return [Result("failover", "leader lost -> standby counting", "azurite missing", "", False)]
    bound = LEASE_SECONDS + REFRESH_SECONDS + POLL_SECONDS + SLACK_SECONDS
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as tmp:
        azurite = Azurite(Path(tmp) / "azurite").start()
        pair = _Pair(Path(tmp), azurite)
        try:
            service = BlobServiceClient.from_connection_string(azurite.connection_string)
            service.create_container(CONTAINER)
            ports = [free_port(), free_port()]
            for port in ports:
                pair.launch(port)
            _leader(ports, 60)
            killed, ports = _failover(pair, ports, signal.SIGKILL)
            handed, _ = _failover(pair, ports, signal.SIGTERM)
        finally:
            pair.stop_all()
            azurite.stop()
    handover_bound = REFRESH_SECONDS + POLL_SECONDS + SLACK_SECONDS
    return [
        Result(
            "failover",
            f"SIGKILL leader -> standby counting (lease {LEASE_SECONDS:g}s)",
            f"{killed:.1f} s ({killed / LEASE_SECONDS:.2f} x lease)",
            f"<= {bound:g} s (lease + refresh + poll + {SLACK_SECONDS:g})",
            killed <= bound,
        ),
        Result(
            "failover",
            "SIGTERM leader (lease released) -> standby counting",
            f"{handed:.1f} s",
            f"<= {handover_bound:g} s (refresh + poll + {SLACK_SECONDS:g})",
            handed <= handover_bound,
        ),
    ]
