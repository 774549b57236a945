"""Chaos: the real `acs-exporter run` process against the local metrics batch API.

Ninety minutes of Call Automation callback events for three resources in two subscriptions,
each minute bucket of each resource its own series (its subcode names the minute), are read
while the server fails a fifth of all calls (429 with and without Retry-After, 5xx, resets) and
the exporter is killed with SIGKILL at random moments and restarted. In the end every bucket is
exported exactly once with its exact count, and no counter ever went down between scrapes.

Authentication is the real DefaultAzureCredential, narrowed to the Azure CLI credential, with a
stand-in `az` that prints the local server's token.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from support.daemon_helpers import Running, start
from support.ports import free_port

from .conftest import ACS1, ACS2, EVENTS
from .fake_arm import FakeArm
from .fake_server import FakeAzureMetrics, Fault, minute_of

pytestmark = pytest.mark.e2e

ACS3 = ACS1.replace("0000000a", "0000000b").replace("acs-one", "acs-three")
MINUTES = 90
KILLS = 5
EVENT_TYPES = ("PlayFailed", "RecognizeCompleted")

# What the ARM fake answers, list call by list call, in the discovered variant (None: the list).
ARM_FAULTS = (
    *[None] * 5,
    Fault.http(403),
    Fault.throttle(0.05),
    Fault.http(500),
    Fault("reset"),
)
Key = tuple[str, str, str, str]  # resource, event type, code, subcode (= the bucket)


def _dataset(server: FakeAzureMetrics, start: datetime, rng: random.Random) -> Counter[Key]:
    truth: Counter[Key] = Counter()
    for resource in (ACS1, ACS2, ACS3):
        name = resource.rsplit("/", 1)[-1]
        for i in range(MINUTES):
            for event in EVENT_TYPES:
                n = rng.randrange(1, 50)
                subcode = str(100_000 + i)  # one series per minute bucket
                dims = {"EventTypeName": event, "Code": "400", "SubCode": subcode}
                server.add(resource, EVENTS, dims, start + timedelta(minutes=i), n)
                truth[(name, event, "400", subcode)] += n
    return truth


def _scrape(port: int) -> Counter[Key] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except (OSError, urllib.error.URLError):
        return None
    out: Counter[Key] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "acs_call_automation_events_total":
                labels = sample.labels
                assert labels["category"], labels  # enriched through the catalog
                key = (labels["resource"], labels["event_type"], labels["code"], labels["subcode"])
                out[key] += int(sample.value)
    return out


def _config(server: FakeAzureMetrics, tmp_path: Path, arm: FakeArm | None) -> Path:
    source: dict[str, object] = {
        "type": "azure_metrics",
        "name": "metrics",
        "resource_ids": [ACS1, ACS2, ACS3],
        "endpoint": server.url,
        "tls_ca_file": str(server.ca_file),
        "poll_interval": "300ms",
        "settle_delay": "1m",
        "max_window": "4m",  # catching up in many small steps: many places to die
        "initial_lookback": f"{MINUTES + 30}m",
    }
    if arm is not None:  # the same resources, discovered in their two subscriptions
        bundle = tmp_path / "ca-bundle.pem"
        bundle.write_bytes(server.ca_file.read_bytes() + arm.ca_file.read_bytes())
        subscriptions = sorted({r.split("/")[2] for r in (ACS1, ACS2, ACS3)})
        source.update(
            resource_ids=[],
            subscriptions=subscriptions,
            arm_endpoint=arm.url,
            tls_ca_file=str(bundle),
        )
    config = {
        "log": {"format": "json", "level": "info"},
        "state": {"path": str(tmp_path / "state" / "checkpoint.json")},
        "sources": [source],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("discover", [False, True], ids=["listed", "discovered"])
def test_exact_counts_per_bucket_through_faults_and_sigkills(
    tmp_path: Path, az_env: dict[str, str], discover: bool
) -> None:
    """Listed: resource_ids. Discovered: the same resources found through the local ARM, whose
    list calls fail too (403, 429, 500, resets), at every restart's first discovery as well."""
    rng = random.Random(20261201)
    with FakeAzureMetrics() as server, FakeArm() as arm:
        first_minute = minute_of(datetime.now(UTC)) - timedelta(minutes=MINUTES + 5)
        truth = _dataset(server, first_minute, rng)
        for resource in (ACS1, ACS2, ACS3):
            arm.add(resource)
        # The very first list call fails: the variant always sees at least one ARM fault.
        arm.faults.extend([Fault.http(403), *(rng.choice(ARM_FAULTS) for _ in range(200))])
        env = az_env
        config, port = _config(server, tmp_path, arm if discover else None), free_port()

        runs: list[Running] = []

        def launch() -> subprocess.Popen[str]:
            run_dir = tmp_path / f"run-{len(runs)}"  # each run's log of its own
            run_dir.mkdir()
            runs.append(start(["--config.file", str(config)], run_dir, env=env, port=port))
            return runs[-1].process

        seen: Counter[Key] = Counter()

        def observe() -> Counter[Key] | None:
            scraped = _scrape(port)
            for key, value in (scraped or {}).items():
                assert value >= seen[key], f"counter went down: {key} {seen[key]} -> {value}"
                seen[key] = value
            return scraped

        server.chaos_rate = 0.2
        process = launch()
        try:
            for _ in range(KILLS):
                deadline = time.monotonic() + rng.uniform(1.5, 4.0)
                while time.monotonic() < deadline:
                    observe()
                    time.sleep(0.1)
                process.send_signal(signal.SIGKILL)
                process.wait(10)
                process = launch()
            deadline = time.monotonic() + 180  # generous on a loaded machine; exits when exact
            scraped = None
            while time.monotonic() < deadline:
                scraped = observe()
                if scraped == truth:
                    break
                time.sleep(0.3)
            got = scraped or Counter()
            assert got == truth, (
                f"missing {dict(truth - got)}, double-counted {dict(got - truth)}\n"
                + runs[-1].log()[-3000:]
            )
            assert sum(server.stats.faults.values()) >= 10, server.stats.faults
            assert server.stats.internal_errors == []
            if discover:
                assert arm.stats.faults >= 1
                assert arm.stats.internal_errors == []
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
