"""Start to ready: `acs-exporter run` on the simulator against a plain prometheus_client process.

Ours: process spawn -> the first `/readyz` 200 (config read, catalog loaded, first poll done,
server up). Theirs: spawn -> the first `/metrics` 200 of a process that imports
prometheus_client, registers one counter and starts its HTTP server. Both are timed from the
same spawn code, polled every 5 ms, interleaved (so a loaded machine slows both alike), median
of several. Target: ours <= 2x theirs.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

from bench.result import Result

RUNS = 7
TIMEOUT = 60.0
BASELINE = (
    "import time\n"
    "from prometheus_client import Counter, start_http_server\n"
    "Counter('acs_bench', 'one counter').inc()\n"
    "start_http_server({port}, addr='127.0.0.1')\n"
    "time.sleep(3600)\n"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def time_to_200(command: Sequence[str], url: str, cwd: str) -> float:
    """Seconds from spawning `command` to `url` answering 200; the process is then stopped."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ACS_EXPORTER_")}
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while not _answers(url):
            if process.poll() is not None:
                raise RuntimeError(f"{command[:4]} exited {process.returncode} before ready")
            if time.perf_counter() - started > TIMEOUT:
                raise RuntimeError(f"{command[:4]} not ready after {TIMEOUT:.0f}s")
            time.sleep(0.005)
        return time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ours(cwd: str) -> float:
    port = _free_port()
    command = [sys.executable, "-m", "acs_exporter.cli", "run"]
    command += ["--web.listen-address", f"127.0.0.1:{port}"]
    return time_to_200(command, f"http://127.0.0.1:{port}/readyz", cwd)


def _theirs(cwd: str) -> float:
    port = _free_port()
    command = [sys.executable, "-c", BASELINE.format(port=port)]
    return time_to_200(command, f"http://127.0.0.1:{port}/metrics", cwd)


def run() -> list[Result]:
    ours: list[float] = []
    theirs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="acs-bench-startup-") as cwd:
        _ours(cwd)  # warm the file cache (bytecode written once)
        for _ in range(RUNS):
            ours.append(_ours(cwd))
            theirs.append(_theirs(cwd))
    our_median = statistics.median(ours)
    their_median = statistics.median(theirs)
    ratio = our_median / their_median
    name = "start to ready"
    return [
        Result(name, "prometheus_client: spawn -> /metrics 200", f"{their_median * 1000:.0f} ms"),
        Result(
            name,
            "acs-exporter run (simulator): spawn -> /readyz 200",
            f"{our_median * 1000:.0f} ms = {ratio:.2f}x prometheus_client",
            "<= 2x prometheus_client",
            ratio <= 2,
        ),
    ]
