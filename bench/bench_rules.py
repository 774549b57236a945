"""What counting once costs the Prometheus that evaluates the shipped rules.

The call-outcome recording rules take one copy of what a shared-state deployment's replicas all
serve (generators/count_once.py: `unless`/`or`/`max without` around every rate and increase),
where a plain rule would only `sum by`. This runs a real Prometheus (the Debian package) over
three scrape targets, each serving the same N call-end series, as the replicas of one
`state.backend: azure_blob` deployment do, and reads its own rule timing
(`prometheus_rule_group_last_duration_seconds`, summed over the groups, median of the
evaluations) for:

- the shipped rules, the replicas exporting the leader metric (count once at work);
- the same rules generated without count once (`sum by` alone: what each evaluation would cost
  if the replicas could be summed), over the same targets;
- the shipped rules over one file-backend exporter (no leader metric) with the same N series.

Target: at the default series ceiling (metrics.max_series 2,000) a whole evaluation of every
group takes under a tenth of the 30 s evaluation interval the chart sets. Printed beside it: the
10,000-series figures (the cost grows with the series: every window's rate reads every raw
series) and count once against the plain sum, which is about 2x by construction: `one_copy`
names its vector twice (once beside `unless`, once inside `max without`) and PromQL evaluates
each occurrence, so every window's rate is computed twice.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import yaml
from generators import rules as rule_generator
from generators.thresholds import load
from prometheus_client.parser import text_string_to_metric_families
from tests.support.ports import free_port

from acs_exporter.catalog.model import Category
from acs_exporter.definitions import metrics as m
from bench.result import Result

SIZES = (2_000, 10_000)  # the default metrics.max_series, and five times it
REPLICAS = 3
INTERVAL_S = 5  # scrape and evaluation interval of the benchmark's Prometheus
EVALUATIONS = 5  # rule timings read, one per interval, after the first few
ABSOLUTE_TARGET_S = 3.0  # a tenth of the chart's 30 s evaluation interval
CATEGORIES = tuple(Category)


def exposition(series: int, leader: float | None) -> bytes:
    """`series` call-end counters as one exporter serves them, plus its leader metric."""
    name = m.CALL_ENDS.sample
    lines = [f"# TYPE {m.CALL_ENDS.name} counter"]
    for index in range(series):
        category = CATEGORIES[index % len(CATEGORIES)]
        labels = (
            f'source="west",code="{400 + index % 200}",subcode="{index}",'
            f'category="{category}",call_type="{("P2P", "Group")[index % 2]}"'
        )
        lines.append(f"{name}{{{labels}}} {1000 + index}")
    if leader is not None:
        lines += [f"# TYPE {m.STATE_LEADER.name} gauge", f"{m.STATE_LEADER.sample} {leader}"]
    return ("\n".join(lines) + "\n").encode()


@contextlib.contextmanager
def serving(bodies: Sequence[bytes]) -> Iterator[list[int]]:
    """One HTTP server per body on 127.0.0.1, answering every GET with it; yields the ports."""
    servers: list[ThreadingHTTPServer] = []
    for body in bodies:

        class Handler(BaseHTTPRequestHandler):
            payload = body

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(self.payload)))
                self.end_headers()
                self.wfile.write(self.payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    try:
        yield [int(server.server_address[1]) for server in servers]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def rules_text(count_once: bool) -> str:
    thresholds = load()
    if count_once:
        return rule_generator.render(thresholds)
    with mock.patch.object(rule_generator, "_once", lambda vector: vector):
        return rule_generator.render(thresholds)


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, OSError):
        return None


def _rule_seconds(metrics_text: str) -> float | None:
    """The last evaluation of every rule group, summed (None until every group has run)."""
    total, groups = 0.0, 0
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "prometheus_rule_group_last_duration_seconds":
            for sample in family.samples:
                total += sample.value
                groups += 1
    return total if groups else None


def evaluation_seconds(prometheus: str, rules: str, ports: Sequence[int], work: Path) -> float:
    """Median over EVALUATIONS of the summed rule group durations of a real Prometheus."""
    config = {
        "global": {"scrape_interval": f"{INTERVAL_S}s", "evaluation_interval": f"{INTERVAL_S}s"},
        "rule_files": [str(work / "rules.yaml")],
        "scrape_configs": [
            {
                "job_name": "acs-exporter",
                "static_configs": [{"targets": [f"127.0.0.1:{port}" for port in ports]}],
            }
        ],
    }
    # Every group at the benchmark's interval (the shipped file sets 30s on one).
    document = yaml.safe_load(rules)
    for group in document["groups"]:
        group.pop("interval", None)
    (work / "rules.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    (work / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    command = [
        prometheus,
        f"--config.file={work / 'prometheus.yml'}",
        f"--storage.tsdb.path={work / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with (work / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        # Three intervals of history first: the rates then have two samples to work with.
        time.sleep(3 * INTERVAL_S)
        seen: list[float] = []
        while len(seen) < EVALUATIONS:
            if process.poll() is not None:
                raise RuntimeError((work / "prometheus.log").read_text()[-2000:])
            text = _get(f"http://127.0.0.1:{port}/metrics")
            value = _rule_seconds(text) if text else None
            if value is not None:
                seen.append(value)
            time.sleep(INTERVAL_S)
        return statistics.median(seen)
    finally:
        process.terminate()
        process.wait(timeout=30)


def run() -> list[Result]:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        return [Result("rules", "skipped", "prometheus not on PATH", "", False)]
    shipped, plain = rules_text(count_once=True), rules_text(count_once=False)
    rows: list[Result] = []
    figures: dict[int, dict[str, float]] = {}
    for size in SIZES:
        replicas = [exposition(size, 1.0), *[exposition(size, 0.0)] * (REPLICAS - 1)]
        timings = figures[size] = {}
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for label, rules, bodies in (
                ("count once", shipped, replicas),
                ("plain sum", plain, replicas),
                ("file backend", shipped, [exposition(size, None)]),
            ):
                (work / label).mkdir()
                with serving(bodies) as ports:
                    timings[label] = evaluation_seconds(prometheus, rules, ports, work / label)
        rows.append(
            Result(
                "rules",
                f"{size:>7,} call-end series x {REPLICAS} replicas: every group's evaluation, "
                "count once / plain sum / file backend (1 exporter) (ms)",
                " / ".join(f"{timings[k] * 1000:.0f}" for k in timings),
            )
        )
    largest, default = figures[SIZES[-1]], figures[SIZES[0]]
    ratio = largest["count once"] / largest["plain sum"]
    rows.append(
        Result(
            "rules",
            f"count once vs plain sum, {SIZES[-1]:,} series a replica (x)",
            f"{ratio:.2f}",
        )
    )
    worst = max(default.values())
    rows.append(
        Result(
            "rules",
            f"slowest whole evaluation at {SIZES[0]:,} series (s; the chart evaluates every 30 s)",
            f"{worst:.2f}",
            f"< {ABSOLUTE_TARGET_S:g}",
            worst < ABSOLUTE_TARGET_S,
        )
    )
    return rows
