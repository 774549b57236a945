"""Chaos: the real `acs-exporter run` process against the local Log Analytics server.

100,000+ participant records arrive over ~30 s with ingestion delays (some back-dated by more
than a day; each queryable up to just under the safety lag after its ingestion time), the server
fails a fifth of all requests (throttling with and without Retry-After, 5xx, partial results,
truncation, resets, slowness), and the exporter is killed with SIGKILL and
restarted at random moments. In the end the exported totals equal the ground truth per (code,
subcode, category) exactly, for an aggregated and a raw source alike, and no counter ever went
down between scrapes.

Authentication is the real DefaultAzureCredential, narrowed by AZURE_TOKEN_CREDENTIALS to the
Azure CLI credential, with a stand-in `az` on PATH that prints the local server's token.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from acs_exporter.catalog import Domain, load_catalog
from acs_exporter.pipeline.aggregate import Resolver
from conftest import azure_cli_env
from support.ports import free_port as _free_port

from .fake_server import FakeLogAnalytics
from .kusto import KustoChecker

pytestmark = pytest.mark.e2e

WS = "c0ffee00-0000-4000-8000-000000000001"
RECORDS = 100_000
SPREAD_SECONDS = 30.0  # ingestion times spread over this long after the start
ALREADY_INGESTED = 20_000  # ingested in the 10 minutes before the exporter first starts
KILLS = 6
CODES = [
    ("0", "0", "Success"),
    ("0", "0", ""),
    ("487", "0", "ExpectedError"),
    ("487", "5001", "ExpectedError"),
    ("408", "10057", "UnexpectedClientError"),
    ("480", "10037", ""),
    ("500", "560500", "UnexpectedServerError"),
    ("503", "560503", ""),
    ("603", "0", "ExpectedError"),
    ("410", "3112", "UnexpectedClientError"),
    ("", "0", ""),
    (None, None, ""),
    ("abc", "1", "Success"),
    (" 0 ", "0", "Success"),
]


def _dataset(start: datetime, rng: random.Random) -> list[dict[str, Any]]:
    records = []
    for i in range(RECORDS):
        code, sub, category = CODES[rng.randrange(len(CODES))] if i % 3 else CODES[0]
        if i < ALREADY_INGESTED:
            ingested = start - timedelta(seconds=rng.uniform(1, 600))
        else:
            ingested = start + timedelta(seconds=rng.uniform(0, SPREAD_SECONDS))
        # Usual latency 3-20 minutes; one record in 50 is back-dated by up to 36 hours.
        delay = timedelta(minutes=rng.uniform(3, 20))
        if i % 50 == 0:
            delay = timedelta(hours=rng.uniform(1, 36))
        records.append(participant_record(i, (code, sub, category), ingested, delay))
    return records


def chaos_source(server: FakeLogAnalytics, workspace: str) -> dict[str, object]:
    """The settings of a Log Analytics source polling `workspace` on `server` fast (0.5 s,
    a 1 s safety lag), for the chaos tests (this one and the blob failover one); add a name
    and a mode."""
    return {
        "type": "log_analytics",
        "workspace_ids": [workspace],
        "endpoint": server.url,
        "tls_ca_file": str(server.ca_file),
        "poll_interval": "500ms",
        "safety_lag": "1s",
        "max_window": "3m",
        "initial_lookback": "15m",
    }


def participant_record(
    i: int, reason: tuple[str | None, str | None, str], ingested: datetime, delay: timedelta
) -> dict[str, Any]:
    """The `i`th participant's ACSCallSummary row (three participants a call); also used by
    tests/pipeline/blob/test_failover_chaos.py."""
    code, sub, category = reason
    return {
        "TimeGenerated": ingested - delay,
        "CorrelationId": f"call-{i // 3}",
        "ParticipantId": f"p-{i}",
        "ParticipantEndReason": code,
        "ParticipantEndSubCode": sub,
        "ResultCategory": category,
        "CallType": "Group",
        "EndpointType": "VoIP",
        "_IngestedAt": ingested,
    }


def _ground_truth(records: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    resolver = Resolver(load_catalog())
    raw = Counter(
        (r["ParticipantEndReason"], r["ParticipantEndSubCode"], r["ResultCategory"] or None)
        for r in records
    )
    truth: Counter[tuple[str, str, str]] = Counter()
    for (code, sub, category), n in raw.items():
        resolved = resolver.resolve(code, sub, category, Domain.CALL_END)
        truth[(resolved.code, resolved.subcode, resolved.category)] += n
    return truth


def _scrape(port: int) -> dict[str, Counter[tuple[str, str, str]]] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except (OSError, urllib.error.URLError):
        return None
    out: dict[str, Counter[tuple[str, str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "acs_call_ends_total":
                labels = sample.labels
                key = (labels["code"], labels["subcode"], labels["category"])
                out.setdefault(labels.get("source", ""), Counter())[key] += int(sample.value)
    return out


@pytest.fixture
def chaos_server(kusto: KustoChecker) -> Iterator[FakeLogAnalytics]:
    # Records become queryable up to just under the exporter's safety_lag (1s below) after
    # their ingestion time, each by its own share of it: late, but within what the lag covers.
    late = timedelta(milliseconds=900)
    with FakeLogAnalytics(
        kusto, row_limit=4_000, visible_after=late, spread_visibility=True
    ) as server:
        yield server


def test_exact_totals_through_faults_and_sigkills(
    chaos_server: FakeLogAnalytics, fake_az: Path, tmp_path: Path
) -> None:
    server = chaos_server
    rng = random.Random(20261125)
    start = datetime.now(UTC) + timedelta(seconds=3)  # data generation takes a moment
    records = _dataset(start, rng)
    server.add_workspace(WS)
    server.add_records(WS, "ACSCallSummary", records)
    truth = _ground_truth(records)
    last_ingested = max(r["_IngestedAt"] for r in records)

    common = chaos_source(server, WS)
    config = {
        "log": {"format": "json", "level": "info"},
        "state": {"path": str(tmp_path / "state" / "checkpoint.json")},
        "sources": [
            {**common, "name": "aggregated", "mode": "aggregated"},
            {**common, "name": "raw", "mode": "raw"},
        ],
    }
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = azure_cli_env(fake_az)
    port = _free_port()
    log_path = tmp_path / "exporter.log"

    def launch() -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "acs_exporter.cli",
                    "run",
                    "--config.file",
                    str(config_path),
                    "--web.listen-address",
                    f"127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    seen: dict[tuple[str, tuple[str, str, str]], int] = {}

    def observe() -> dict[str, Counter[tuple[str, str, str]]] | None:
        scraped = _scrape(port)
        if scraped is None:
            return None
        for source, totals in scraped.items():
            for key, value in totals.items():
                before = seen.get((source, key), 0)
                assert value >= before, f"counter went down: {source} {key} {before} -> {value}"
                seen[(source, key)] = value
        return scraped

    server.set_chaos(0.2, seed=7)
    process = launch()
    try:
        for _ in range(KILLS):
            deadline = time.monotonic() + rng.uniform(2.0, 5.0)
            while time.monotonic() < deadline:
                observe()
                time.sleep(0.2)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            process = launch()
        # Let the data finish arriving, then the exporter catch up.
        deadline = time.monotonic() + 240  # generous: a loaded 2-core machine; exits when exact
        scraped = None
        while time.monotonic() < deadline:
            scraped = observe()
            past_the_end = datetime.now(UTC) > last_ingested + timedelta(seconds=2)
            if (
                past_the_end
                and scraped
                and all(scraped.get(s) == truth for s in ("aggregated", "raw"))
            ):
                break
            time.sleep(0.5)
        assert scraped is not None, log_path.read_text()[-3000:]
        for source in ("aggregated", "raw"):
            got = scraped.get(source, Counter())
            missing = truth - got
            extra = got - truth
            assert got == truth, (
                f"{source}: missing {dict(missing)}, double-counted {dict(extra)}\n"
                + log_path.read_text()[-3000:]
            )
        assert sum(server.stats.faults.values()) >= 20, server.stats.faults
        assert len({"truncate", "partial", "reset", "429"} & set(server.stats.faults)) == 4
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert server.stats.max_in_flight <= 5
    assert server.stats.internal_errors == []
