"""Start to ready: `acs-exporter run` on the simulator against a plain prometheus_client process.

Ours: process spawn -> the first `/readyz` 200 (config read, catalog loaded, first poll done,
server up). Theirs: spawn -> the first `/metrics` 200 of a process that imports
prometheus_client, registers one counter and starts its HTTP server. Both are timed from the
same spawn code, polled every 5 ms, interleaved (so a loaded machine slows both alike), median
of several. Target: ours <= 2x theirs. Beside it, the CPU time each process had used when it
answered (/proc), which a loaded machine distorts much less than the wall time.
"""

from __future__ import annotations

import compileall
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tests.support.ports import free_port

import acs_exporter
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


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_to_200(command: Sequence[str], url: str, cwd: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process) from spawning `command` to `url` answering
    200; the process is then stopped."""
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
        return time.perf_counter() - started, _cpu_seconds(process.pid)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it is still running 20 s later."""
    process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(20)
        return
    process.kill()
    process.wait()


def _ours(cwd: str) -> tuple[float, float]:
    port = free_port()
    command = [sys.executable, "-m", "acs_exporter.cli", "run"]
    command += ["--web.listen-address", f"127.0.0.1:{port}"]
    return time_to_200(command, f"http://127.0.0.1:{port}/readyz", cwd)


def _theirs(cwd: str) -> tuple[float, float]:
    port = free_port()
    command = [sys.executable, "-c", BASELINE.format(port=port)]
    return time_to_200(command, f"http://127.0.0.1:{port}/metrics", cwd)


def run() -> list[Result]:
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="acs-bench-startup-") as cwd:
        # As shipped: pip compiles the installed package (the image's build stage does), and
        # prometheus_client's .pyc files are in site-packages. An editable checkout run with
        # PYTHONDONTWRITEBYTECODE=1 (set on these machines and in the image) would otherwise
        # compile every module of ours again at each start (~0.1 s) and time the compiler.
        compileall.compile_dir(Path(acs_exporter.__file__).parent, quiet=1)
        _ours(cwd)  # warm the file cache
        for _ in range(RUNS):
            ours.append(_ours(cwd))
            theirs.append(_theirs(cwd))
    wall, cpu = (statistics.median(t[i] for t in ours) for i in (0, 1))
    their_wall, their_cpu = (statistics.median(t[i] for t in theirs) for i in (0, 1))
    ratio = wall / their_wall
    name = "start to ready"
    return [
        Result(
            name,
            "prometheus_client: spawn -> /metrics 200",
            f"{their_wall * 1000:.0f} ms ({their_cpu * 1000:.0f} ms CPU)",
        ),
        Result(
            name,
            "acs-exporter run (simulator): spawn -> /readyz 200",
            f"{wall * 1000:.0f} ms = {ratio:.2f}x prometheus_client",
            "<= 2x prometheus_client",
            ratio <= 2,
        ),
        Result(
            name,
            "acs-exporter run: CPU used by ready (less sensitive to load)",
            f"{cpu * 1000:.0f} ms = {cpu / their_cpu:.2f}x prometheus_client's",
        ),
    ]
