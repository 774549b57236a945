"""Time to page a severe UnexpectedServerError spike (issue 12), in its two measured parts.

The spike: 0.1% -> 17% of 1,000 call ends a minute. Time to page runs from the first spike
records being queryable in Log Analytics to ACSUnexpectedServerErrorSevereSpike firing:

(a) Exporter delay, queryable -> counted in /metrics. A real `acs-exporter run` process polls
    the local HTTPS Log Analytics server (tests/sources/loganalytics, as bench_loganalytics uses
    it) with the default poll_interval and safety_lag divided by SCALE, so one second stands for
    a minute: a record is made queryable at a random moment and /metrics is read until it is
    counted. The delay is `safety_lag + (0..1) * poll_interval + o`, where o (query, parse,
    render) does not scale; at the defaults the worst case is bounded by
    `safety_lag + poll_interval + (max measured - scaled safety_lag)`, which counts the scaled
    poll phase once more as o (an overestimate by at most the scaled poll interval).
(b) Rule delay, counted -> ALERTS firing: `promtool test rules` on the shipped rule file, over
    series that a Prometheus scraping every SCRAPE seconds would store: the exporter's counters
    step at each poll (every poll_interval, a poll's worth of call ends), the spike's first poll
    at T. Every phase of T against the rule group's evaluations and of the scrapes against T
    (5 s steps) is one test case; each expects no alert at every evaluation, so promtool's
    failures name the first firing evaluation of each.

The sum of the worst cases is the row with the target (<= 5 min). Figures on a loaded machine
are noisy in (a) only; (b) is exact for the modelled scrapes.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from generators.rules import OUTPUT as RULES
from generators.thresholds import load, seconds
from prometheus_client.parser import text_string_to_metric_families
from tests.sources.loganalytics.fake_server import TOKEN, FakeLogAnalytics
from tests.sources.loganalytics.kusto import PACKAGE, KustoChecker
from tests.support.ports import free_port

from acs_exporter.definitions.metrics import CALL_ENDS
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from bench.result import Result

DEFAULTS = LogAnalyticsSettings(type="log_analytics", workspace_ids=["w"])
WS = "bench-page-0000-0000-000000000000"
SCALE = 60  # (a): one second of the run stands for a minute of the defaults
SAMPLES = 8
TARGET_S = 300.0
SEVERE = "ACSUnexpectedServerErrorSevereSpike"
SUSTAINED = "ACSUnexpectedServerErrorSpike"

# (b): call ends per second before and during the spike, by category
CALLS_PER_S = 1000 / 60
SHARE_BEFORE, SHARE_SPIKE = 0.001, 0.17
GRID_S = 5  # promtool's series step; scrapes and phases are multiples of it
# Per alert: history before T (more than its windows need), and how long after T to look
# for its first firing evaluation.
TIMELINE_S = {SEVERE: (4 * 60, 5 * 60), SUSTAINED: (8 * 60, 10 * 60)}
PROMTOOL = "promtool"
SCRAPE_S = 30  # the scrape interval the target row assumes (docs/operations.md)


# --- (a) exporter delay --------------------------------------------------------------------------


def _counted(port: int) -> float | None:
    """Every call end counted in /metrics, or None while the exporter does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except (OSError, urllib.error.URLError):
        return None
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == CALL_ENDS.sample
    )


def _config(server: FakeLogAnalytics, tmp: Path) -> Path:
    def scaled(value: timedelta) -> str:
        return f"{round(value.total_seconds() * 1000 / SCALE)}ms"

    source = {
        "type": "log_analytics",
        "workspace_ids": [WS],
        "endpoint": server.url,
        "tls_ca_file": str(server.ca_file),
        "poll_interval": scaled(DEFAULTS.poll_interval),
        "safety_lag": scaled(DEFAULTS.safety_lag),
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump({"sources": [source]}), encoding="utf-8")
    return path


def _environment(tmp: Path) -> dict[str, str]:
    """The real DefaultAzureCredential, narrowed to the Azure CLI, with a stand-in `az` that
    prints the local server's token (as tests/sources/loganalytics/test_chaos.py does)."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(
        f"#!{sys.executable}\nimport json, time\n"
        f"print(json.dumps({{'accessToken': {TOKEN!r}, 'expires_on': int(time.time()) + 3600,"
        " 'tokenType': 'Bearer'}))\n"
    )
    az.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACS_EXPORTER_", "AZURE_"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["AZURE_TOKEN_CREDENTIALS"] = "AzureCliCredential"
    return env


@contextmanager
def _exporter(server: FakeLogAnalytics, tmp: Path) -> Iterator[int]:
    port = free_port()
    command = [sys.executable, "-m", "acs_exporter.cli", "run", "--config.file"]
    command += [str(_config(server, tmp)), "--web.listen-address", f"127.0.0.1:{port}"]
    with (tmp / "exporter.log").open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=_environment(tmp)
        )
    try:
        yield port
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(port: int, timeout_s: float) -> bool:
    """Whether /readyz answers 200 (a first poll succeeded) within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
                if response.status == 200:
                    return True
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.05)
    return False


def _wait_counted(port: int, more_than: float, timeout_s: float) -> float:
    """Seconds until /metrics counts more than `more_than` call ends (inf on timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        counted = _counted(port)
        if counted is not None and counted > more_than:
            return time.monotonic() - started
        time.sleep(0.01)
    return float("inf")


def _record(now: datetime, n: int) -> dict[str, object]:
    return {
        "TimeGenerated": now - timedelta(minutes=5),
        "CorrelationId": f"call-{n}",
        "ParticipantId": f"p-{n}",
        "ParticipantEndReason": "500",
        "ParticipantEndSubCode": "580000",
        "ResultCategory": "UnexpectedServerError",
        "_IngestedAt": now,
    }


def exporter_delays(kusto: KustoChecker) -> list[float]:
    """Scaled seconds from a record queryable to it counted in /metrics, SAMPLES times."""
    rng = random.Random(12)
    poll_s = DEFAULTS.poll_interval.total_seconds() / SCALE
    delays: list[float] = []
    with FakeLogAnalytics(kusto) as server, tempfile.TemporaryDirectory() as name:
        server.add_workspace(WS)
        with _exporter(server, Path(name)) as port:
            if not _ready(port, timeout_s=60):
                return []
            for n in range(SAMPLES):
                time.sleep(rng.uniform(0, poll_s))  # a random phase against the polls
                server.add_records(WS, "ACSCallSummary", [_record(datetime.now(UTC), n)])
                delays.append(_wait_counted(port, n, timeout_s=30))
    return delays


# --- (b) rule delay ------------------------------------------------------------------------------

# (category, share of call ends before T, share from T on)
CATEGORIES = (
    ("Success", 1 - SHARE_BEFORE, 1 - SHARE_SPIKE),
    ("UnexpectedServerError", SHARE_BEFORE, SHARE_SPIKE),
)


def _counter(t: int, spike_at: int, poll_s: int, before: float, during: float) -> float:
    """The exporter's counter at scrape time t: a poll's worth of call ends at each poll
    strictly before t (polls at spike_at + k * poll_s), at the share of its side of T."""
    total = 0.0
    poll = spike_at - (spike_at // poll_s) * poll_s or poll_s  # the first poll after 0
    while poll < t:
        total += CALLS_PER_S * poll_s * (during if poll >= spike_at else before)
        poll += poll_s
    return total


def _values(
    spike_at: int, end: int, scrape_offset: int, scrape_s: int, shares: tuple[float, float]
) -> str:
    """promtool's values on a GRID_S grid: a sample at each scrape, `_` between."""
    poll_s = int(DEFAULTS.poll_interval.total_seconds())
    cells = [
        "_" if (t - scrape_offset) % scrape_s else f"{_counter(t, spike_at, poll_s, *shares):.10g}"
        for t in range(0, end + 1, GRID_S)
    ]
    return " ".join(cells)


def _case(
    name: str, alert: str, spike_at: int, scrape_offset: int, scrape_s: int, eval_s: int
) -> dict[str, object]:
    end = spike_at + TIMELINE_S[alert][1]
    series = [
        {
            "series": f'{CALL_ENDS.sample}{{job="acs-exporter",category="{category}"}}',
            "values": _values(spike_at, end, scrape_offset, scrape_s, (before, during)),
        }
        for category, before, during in CATEGORIES
    ]
    first_eval = spike_at - spike_at % eval_s
    checks = [
        {"eval_time": f"{t}s", "alertname": alert, "exp_alerts": []}
        for t in range(first_eval, end + 1, eval_s)
    ]
    return {
        "name": name,
        "interval": f"{GRID_S}s",
        "input_series": series,
        "alert_rule_test": checks,
    }


_FAILURE = re.compile(r"^\s*(?:name: (?P<name>[^,]+),|alertname: \S+, time: (?P<time>[0-9hms.]+),)")


def _go_seconds(text: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)([hms])", text))


def _first_firing(output: str) -> dict[str, float]:
    """Test case name -> the first evaluation (s) at which promtool saw the alert."""
    first: dict[str, float] = {}
    name = ""
    for line in output.splitlines():
        match = _FAILURE.match(line)
        if match and match["name"]:
            name = match["name"].strip()
        elif match and match["time"]:
            first[name] = min(first.get(name, float("inf")), _go_seconds(match["time"]))
    return first


def _group_of(alert: str) -> dict[str, object]:
    """The shipped rule group holding `alert`: a group holds the recordings its alerts read
    (generators/rules.py), and groups evaluate independently, so it alone decides when the
    alert fires (and promtool need not evaluate the day-long windows of the others)."""
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    groups: list[dict[str, object]] = document["groups"]
    return next(g for g in groups if any(r.get("alert") == alert for r in g["rules"]))  # type: ignore[attr-defined]


def rule_delays(alert: str, scrape_s: int, eval_s: int, phase_s: int = GRID_S) -> list[float]:
    """Seconds from the spike counted (T) to `alert` firing, for every phase of T against the
    evaluations and of the scrapes against T (inf where it never fires within its timeline)."""
    cases, spikes = [], {}
    for spike_phase in range(0, eval_s, phase_s):
        for scrape_phase in range(0, scrape_s, phase_s):
            spike_at = TIMELINE_S[alert][0] + spike_phase
            name = f"case-{spike_phase}-{scrape_phase}"
            spikes[name] = spike_at
            cases.append(_case(name, alert, spike_at, spike_at + scrape_phase, scrape_s, eval_s))
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.yaml"
        rules.write_text(yaml.safe_dump({"groups": [_group_of(alert)]}), encoding="utf-8")
        path = Path(tmp) / "page.test.yaml"
        document = {"rule_files": [str(rules)], "evaluation_interval": f"{eval_s}s", "tests": cases}
        path.write_text(yaml.safe_dump(document, width=1 << 20), encoding="utf-8")
        result = subprocess.run(
            [PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False
        )
    first = _first_firing(result.stdout + result.stderr)
    if not first:  # nothing fired in any case: say what promtool said
        print(result.stdout[-2000:] + result.stderr[-2000:], file=sys.stderr)
    return [first.get(name, float("inf")) - spike_at for name, spike_at in spikes.items()]


# --- the rows ------------------------------------------------------------------------------------


def _minutes(value: float) -> str:
    if value == float("inf"):
        return "never"
    return f"{int(value // 60)}m{value % 60:04.1f}s"


def _exporter_rows(delays: list[float]) -> tuple[list[Result], float]:
    """The scaled measurement, and the worst case at the defaults it bounds (inf if none)."""
    lag_s = DEFAULTS.safety_lag.total_seconds()
    poll_s = DEFAULTS.poll_interval.total_seconds()
    if not delays or max(delays) == float("inf"):
        return [Result("page", "exporter delay", "record never counted", "", False)], float("inf")
    overhead = max(delays) - lag_s / SCALE  # poll phase + query/parse/render, bounded above
    worst = lag_s + poll_s + overhead
    scaled = (
        f"median {statistics.median(delays):.2f} s, max {max(delays):.2f} s over {len(delays)} "
        f"records (poll {poll_s / SCALE:g} s, lag {lag_s / SCALE:g} s: 1/{SCALE} of the defaults)"
    )
    rows = [
        Result("page", "exporter delay, scaled run", scaled),
        Result(
            "page",
            "(a) exporter delay at the defaults, worst",
            f"{_minutes(worst)} = lag {lag_s:g} s + poll {poll_s:g} s + {overhead:.2f} s",
        ),
    ]
    return rows, worst


def _rule_row(measure: str, delays: list[float]) -> Result:
    value = f"worst {_minutes(max(delays))}, median {_minutes(statistics.median(delays))}"
    return Result("page", measure, f"{value} over {len(delays)} phases")


def run() -> list[Result]:
    if not Path(PACKAGE).exists():
        return [Result("page", "skipped", "tools/kusto not installed (make pytest)", "", False)]
    if shutil.which(PROMTOOL) is None:
        return [Result("page", "skipped", "promtool not on PATH", "", False)]
    eval_s = seconds(load().server_error_severe_spike.evaluation_interval)
    # promtool works while the exporter part mostly waits for polls: run them side by side.
    with ThreadPoolExecutor(max_workers=1) as pool:
        rules = pool.submit(rule_delays, SEVERE, SCRAPE_S, eval_s)
        slower = pool.submit(rule_delays, SEVERE, 60, eval_s, 15)
        sustained = pool.submit(rule_delays, SUSTAINED, SCRAPE_S, 60, 15)
        kusto = KustoChecker()
        try:
            rows, exporter_worst = _exporter_rows(exporter_delays(kusto))
        finally:
            kusto.close()
        rows.append(_rule_row(f"(b) rule delay, {SEVERE}, {SCRAPE_S} s scrapes", rules.result()))
        rows.append(_rule_row(f"rule delay, {SEVERE}, 60 s scrapes", slower.result()))
        rows.append(
            _rule_row(
                f"rule delay, {SUSTAINED} (sustained tier, 1 m evaluations)", sustained.result()
            )
        )
    total = exporter_worst + max(rules.result())
    rows.append(
        Result(
            "page",
            "time to page, worst: (a) + (b)",
            _minutes(total),
            f"<= {_minutes(TARGET_S)}",
            total <= TARGET_S,
        )
    )
    return rows
