"""Chaos: three real `acs-exporter run` processes sharing one checkpoint blob in Azurite.

They read one Log Analytics workspace (the local HTTPS fake, failing a tenth of its requests)
while data arrives. The leader is SIGKILLed (and restarted as a standby), Azurite is stopped for
longer than the lease, so the lease expires mid-write, and restarted, then the leader is killed
again. In the end every replica serves exactly the ground truth; no replica's counters ever went
down between scrapes; the commits of all replicas form one chain of ETags (each replaces the
one before it: never two writers), and the storage never had to refuse a write (every leader
stopped writing before its lease could lapse).
"""

from __future__ import annotations

import json
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

from conftest import azure_cli_env, require_path, require_tool, token_az
from sources.loganalytics.fake_server import TOKEN, FakeLogAnalytics
from sources.loganalytics.kusto import PACKAGE, KustoChecker
from sources.loganalytics.test_chaos import CODES, _ground_truth, chaos_source, participant_record
from support.azurite import Azurite
from support.ports import free_port

from .conftest import CONTAINER

pytestmark = pytest.mark.e2e

WS = "c0ffee00-0000-4000-8000-000000000002"
REPLICAS = 3
LEASE_SECONDS = 15  # the shortest lease Azure Storage grants
RECORDS = 30_000
ALREADY = 6_000
SPREAD_SECONDS = 65.0  # data still arrives at the last kill
Totals = Counter[tuple[str, str, str]]


@pytest.fixture
def la_server() -> Iterator[FakeLogAnalytics]:
    require_tool("node")
    require_path(PACKAGE, "@kusto/language-service-next (run `make test`)")
    checker = KustoChecker()
    try:
        with FakeLogAnalytics(checker, row_limit=4_000) as server:
            yield server
    finally:
        checker.close()


def _dataset(start: datetime, rng: random.Random) -> list[dict[str, Any]]:
    """RECORDS participant call ends, ALREADY ingested before the start, the rest over SPREAD
    seconds after it, each 3 to 20 minutes after its call ended."""
    records = []
    for i in range(RECORDS):
        reason = CODES[rng.randrange(len(CODES))] if i % 3 else CODES[0]
        offset = -rng.uniform(1, 600) if i < ALREADY else rng.uniform(0, SPREAD_SECONDS)
        ingested = start + timedelta(seconds=offset)
        delay = timedelta(minutes=rng.uniform(3, 20))
        records.append(participant_record(i, reason, ingested, delay))
    return records


class Replica:
    def __init__(self, index: int, config: Path, env: dict[str, str], tmp: Path) -> None:
        self.port = free_port()
        self.log_path = tmp / f"replica-{index}.log"
        self._config, self._env = config, env
        self.process: subprocess.Popen[bytes] | None = None
        self.seen: dict[tuple[str, str, str], int] = {}

    def launch(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "acs_exporter.cli", "run"),
                    *("--config.file", str(self._config)),
                    *("--web.listen-address", f"127.0.0.1:{self.port}"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def get(self, path: str) -> tuple[int, str] | None:
        try:
            url = f"http://127.0.0.1:{self.port}{path}"
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return None

    def sample(self, name: str) -> float | None:
        reply = self.get("/metrics")
        assert reply is not None, f"replica :{self.port} does not answer"
        for family in text_string_to_metric_families(reply[1]):
            for sample in family.samples:
                if sample.name == name:
                    return float(sample.value)
        return None

    def observe(self) -> tuple[Totals, bool] | None:
        """(call ends, leads and committed) from /metrics; asserts no counter went down since
        last time."""
        reply = self.get("/metrics")
        if reply is None or reply[0] != 200:
            return None
        totals: Totals = Counter()
        leads = committed = False
        for family in text_string_to_metric_families(reply[1]):
            for sample in family.samples:
                if sample.name == "acs_call_ends_total":
                    labels = sample.labels
                    totals[(labels["code"], labels["subcode"], labels["category"])] += int(
                        sample.value
                    )
                elif sample.name == "acs_exporter_state_leader":
                    leads = sample.value == 1
                elif sample.name == "acs_exporter_state_commits_total":
                    committed = sample.value > 0
        for key, value in totals.items():
            before = self.seen.get(key, 0)
            assert value >= before, f"replica :{self.port} went down: {key} {before} -> {value}"
            self.seen[key] = value
        return totals, leads and committed


def _leader(replicas: list[Replica], timeout: float) -> Replica:
    """The replica that leads and has committed at least once (so killing it kills a writer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for replica in replicas:
            if replica.process is None or replica.process.poll() is not None:
                continue  # killed, not relaunched yet
            observed = replica.observe()
            if observed is not None and observed[1]:
                return replica
        time.sleep(0.2)
    raise AssertionError("no replica leads: " + replicas[0].log_path.read_text()[-3000:])


def _fail_over(replicas: list[Replica], leader: Replica) -> Replica:
    """SIGKILL the leader, wait until a standby leads (within the lease), then restart the
    killed one as a standby, and wait until it has started. Restarting it only after the
    takeover makes the takeover certain: a restart at once could win the expired lease back
    itself, and the test would then never see the leadership move (a third of the time with
    three replicas)."""
    leader.kill()
    successor = _leader(replicas, LEASE_SECONDS + 30)
    leader.launch()
    _started(leader, 60)
    return successor


def _started(replica: Replica, timeout: float) -> None:
    """Wait until a relaunched replica answers, i.e. has read the blob (it serves only after
    that): a storage outage started before then would stop its start-up, as it must, and
    the test would then miss a replica instead of testing one (seen on a loaded machine,
    where a start took longer than the 2 s the test then observes)."""
    deadline = time.monotonic() + timeout
    while replica.get("/metrics") is None:
        assert replica.process is not None
        assert replica.process.poll() is None, replica.log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, f"replica :{replica.port} did not start"
        time.sleep(0.2)


def _observe_for(replicas: list[Replica], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for replica in replicas:
            replica.observe()
        time.sleep(0.2)


def _commits(replicas: list[Replica]) -> list[dict[str, Any]]:
    out = []
    for replica in replicas:
        for line in replica.log_path.read_text().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("msg", record.get("message")) in (
                    "checkpoint committed",
                    "checkpoint write refused",
                ):
                    out.append({**record, "replica": replica.port})
    return out


def _setup(
    server: FakeLogAnalytics, azurite: Azurite, tmp_path: Path, records: list[dict[str, Any]]
) -> list[Replica]:
    server.add_workspace(WS)
    server.add_records(WS, "ACSCallSummary", records)
    source = {**chaos_source(server, WS), "name": "la"}
    config = {
        "log": {"format": "json", "level": "debug"},
        "state": {
            "backend": "azure_blob",
            "azure_blob": {
                "container_url": azurite.container_url(CONTAINER),
                "auth_mode": "connection_string",
                "lease_duration": f"{LEASE_SECONDS}s",
                "refresh_interval": "500ms",
            },
        },
        "sources": [source],
    }
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = azure_cli_env(token_az(tmp_path / "bin", TOKEN))
    env["AZURE_STORAGE_CONNECTION_STRING"] = azurite.connection_string
    return [Replica(i, config_path, env, tmp_path) for i in range(REPLICAS)]


def test_failover_keeps_exact_totals_and_one_writer(
    la_server: FakeLogAnalytics, azurite: Azurite, tmp_path: Path
) -> None:
    rng = random.Random(20261201)
    start = datetime.now(UTC) + timedelta(seconds=2)
    records = _dataset(start, rng)
    truth = _ground_truth(records)
    last_ingested = max(r["_IngestedAt"] for r in records)
    replicas = _setup(la_server, azurite, tmp_path, records)
    la_server.set_chaos(0.1, seed=11)
    for replica in replicas:
        replica.launch()
    try:
        leader = _leader(replicas, 60)
        for standby in replicas:
            if standby is not leader:  # it serves the leader's checkpoint: ready
                assert standby.get("/readyz") == (200, "ready\n"), standby.get("/readyz")
        _observe_for(replicas, 3)
        leader = _fail_over(replicas, leader)  # 1: SIGKILL the leader
        _observe_for(replicas, 2)
        azurite.stop()  # 2: storage gone for longer than the lease: it expires mid-write
        # The leader finds out at its next write or lease refresh: poll for it (a loaded
        # machine may take longer than the few seconds that is on an idle one).
        deadline = time.monotonic() + LEASE_SECONDS
        while leader.sample("acs_exporter_state_store_up") != 0.0:
            assert time.monotonic() < deadline, "store_up still 1 a lease period after the stop"
            _observe_for(replicas, 0.5)
        reply = leader.get("/readyz")
        assert reply is not None
        assert reply[0] == 503, reply
        assert "state store" in reply[1], reply
        _observe_for(replicas, LEASE_SECONDS)
        azurite.start()
        leader = _leader(replicas, LEASE_SECONDS + 30)
        _observe_for(replicas, 2)
        _fail_over(replicas, leader)  # 3: and the leader again
        _wait_for_truth(replicas, truth, last_ingested)
    finally:
        for replica in replicas:
            if replica.process is not None and replica.process.poll() is None:
                replica.process.send_signal(signal.SIGTERM)
        for replica in replicas:
            if replica.process is not None:
                try:
                    replica.process.wait(15)
                except subprocess.TimeoutExpired:
                    replica.process.kill()
    _check_one_writer(replicas)


def _wait_for_truth(replicas: list[Replica], truth: Totals, last_ingested: datetime) -> None:
    deadline = time.monotonic() + 180  # generous: a loaded 2-core machine; exits when exact
    got: list[Totals | None] = []
    while time.monotonic() < deadline:
        got = [None if (o := r.observe()) is None else o[0] for r in replicas]
        if datetime.now(UTC) > last_ingested + timedelta(seconds=2) and all(
            g == truth for g in got
        ):
            return
        time.sleep(0.5)
    for replica, scraped in zip(replicas, got, strict=True):
        totals = scraped or Counter()
        assert totals == truth, (
            f"replica :{replica.port}: missing {dict(truth - totals)}, "
            f"double-counted {dict(totals - truth)}\n" + replica.log_path.read_text()[-3000:]
        )


def _check_one_writer(replicas: list[Replica]) -> None:
    records = _commits(replicas)
    refused = [r for r in records if r.get("msg", r.get("message")) != "checkpoint committed"]
    assert refused == [], refused
    commits = [r for r in records if r not in refused]
    assert len(commits) >= 5
    writers = {r["replica"] for r in commits}
    assert len(writers) >= 2, "the leadership never moved"
    replaced = Counter(r["etag_before"] for r in commits)
    twice = {etag: n for etag, n in replaced.items() if n > 1}
    assert twice == {}, f"two writers replaced the same blob version: {twice}"
    after = {r["etag"] for r in commits}
    starts = [r for r in commits if r["etag_before"] not in after]
    assert len(starts) == 1, f"the commits are not one chain: {len(starts)} starts"
