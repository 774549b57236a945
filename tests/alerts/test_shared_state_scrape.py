"""The alert rules on what real replicas of state.backend azure_blob export.

Three real `acs-exporter run` processes share one checkpoint blob in Azurite. Their /metrics
are scraped healthy (one leader, two standbys), then again once Azurite is stopped (every
replica failing to reach the blob, the leader stepped down). Those scrapes become the input of
a promtool unit test, phase after phase, as Prometheus would have scraped them each minute. The
test asks promtool which alerts fire: none while healthy, even long after start-up (the poll
alerts must not fire on standbys); ACSExporterStateStoreDown on each replica and
ACSExporterNoLeader once for the deployment during the outage, and nothing else. So the metric
names, labels and values the rules read are the ones real replicas expose, and
alerts/tests/shared-state.test.yaml models them faithfully.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from acs_exporter.definitions import metrics as defs
from conftest import REPO
from support.azurite import Azurite
from support.azurite_fixture import required_azurite
from support.daemon_helpers import Running, start
from support.promtool import promtool_test

pytestmark = pytest.mark.e2e

RULES = REPO / "alerts" / "acs-exporter.rules.yaml"
CONTAINER = "acs"
LEASE_SECONDS = 15  # the shortest lease: the leader steps down within ~12 s of an outage
REPLICAS = 3
# The labels Prometheus would add when scraping the chart's pods.
TARGET = {"job": "acs-exporter", "namespace": "acs"}
# Minutes of each phase in the promtool test (evaluation every minute).
HEALTHY_MINUTES = 40
OUTAGE_MINUTES = 60
# Timestamps of a moment (not of the last event): constant whatever the phase.
FIXED_TIMES = {"process_start_time_seconds", defs.CONFIG_RELOAD_SUCCESS_TIMESTAMP.sample}


@dataclass
class Scrape:
    at: float  # Unix time of the scrape
    samples: list[tuple[str, dict[str, str], float]]

    def value(self, name: str) -> float | None:
        return next((v for n, labels, v in self.samples if n == name and not labels), None)


@pytest.fixture
def azurite(tmp_path: Path) -> Iterator[Azurite]:
    with required_azurite(tmp_path / "azurite", CONTAINER) as service:
        yield service


def _replicas(azurite: Azurite, tmp_path: Path) -> list[Running]:
    config = {
        "log": {"format": "json", "level": "info"},
        "state": azurite.state_settings(CONTAINER, LEASE_SECONDS, "500ms"),
        "sources": [{"type": "simulator", "name": "west", "seed": 3, "poll_interval": "200ms"}],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    replicas = []
    for index in range(REPLICAS):
        directory = tmp_path / f"replica-{index}"
        directory.mkdir()
        replicas.append(start(["--config.file", str(path)], directory, env))
    return replicas


def _scrape(replica: Running) -> Scrape | None:
    try:
        status, body = replica.get("/metrics")
    except OSError:
        return None
    if status != 200:
        return None
    samples = [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    ]
    return Scrape(time.time(), samples)


def _scrapes_when(replicas: list[Running], wanted: str, timeout: float) -> list[Scrape]:
    """Scrapes of every replica once `wanted` holds of them: 'one leader' (and it has polled)
    or 'all down' (every replica a standby that cannot reach the blob)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scrapes = [_scrape(replica) for replica in replicas]
        if all(scrapes) and _holds(wanted, [s for s in scrapes if s is not None]):
            return [s for s in scrapes if s is not None]
        for replica in replicas:
            assert replica.process.poll() is None, replica.log()[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"not '{wanted}' within {timeout}s:\n{replicas[0].log()[-3000:]}")


def _holds(wanted: str, scrapes: list[Scrape]) -> bool:
    leaders = [s for s in scrapes if s.value(defs.STATE_LEADER.sample) == 1]
    if wanted == "one leader":
        polled = [s for s in leaders if _has(s, defs.LAST_SUCCESSFUL_POLL.sample)]
        return len(leaders) == 1 and len(polled) == 1
    down = [s for s in scrapes if s.value(defs.STATE_STORE_UP.sample) == 0]
    return not leaders and len(down) == len(scrapes)


def _has(scrape: Scrape, name: str) -> bool:
    return any(n == name for n, _, _ in scrape.samples)


# --- scrapes -> a promtool unit test ---------------------------------------------------------


@dataclass
class Phase:
    start: int  # first minute
    minutes: int
    scrapes: list[Scrape]  # one per replica


def _instance(index: int) -> str:
    return f"10.0.0.{index + 1}:10142"


def _value(name: str, value: float, scrape: Scrape, phase: Phase, minute: int, t0: float) -> float:
    """`value` as Prometheus would see it at `minute` of the test, the scrape being the phase's
    start. Times become test times (0 at the first scrape); a leader keeps polling through its
    phase, so its poll time advances with the clock, while a standby's cursor ages."""
    leads = scrape.value(defs.STATE_LEADER.sample) == 1
    since = (minute - phase.start) * 60
    if name in FIXED_TIMES:
        return value - t0
    if name.endswith("_timestamp_seconds"):
        return value - scrape.at + phase.start * 60 + (since if leads else 0)
    if name == defs.CURSOR_LAG.sample and not leads:
        return value + since
    return value


def _selector(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"'.replace("\\", "\\\\") for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _input_series(phases: list[Phase]) -> list[dict[str, str]]:
    """Every sample of every replica, minute by minute through the phases ('_': not exposed)."""
    t0 = min(scrape.at for scrape in phases[0].scrapes)
    total = sum(phase.minutes for phase in phases)
    series: dict[str, list[str]] = {}
    for phase in phases:
        for index, scrape in enumerate(phase.scrapes):
            target = {**TARGET, "instance": _instance(index)}
            for name, labels, value in [*scrape.samples, ("up", {}, 1.0)]:
                key = _selector(name, {**labels, **target})
                values = series.setdefault(key, ["_"] * total)
                for minute in range(phase.start, phase.start + phase.minutes):
                    values[minute] = repr(_value(name, value, scrape, phase, minute, t0))
    return [{"series": key, "values": " ".join(values)} for key, values in series.items()]


def _go_duration(minutes: int) -> str:
    """As promtool prints an evaluation time (Prometheus' model.Duration): 39m, 1h, 1h39m."""
    hours, rest = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + (f"{rest}m" if rest or not hours else "")


def _alert_names() -> list[str]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return sorted({rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule})


Fired = set[tuple[str, str, tuple[tuple[str, str], ...]]]


def _firing(phases: list[Phase], eval_minutes: list[int], rules: Path, tmp: Path) -> Fired:
    """(evaluation time, alert, labels) of every alert promtool sees firing on the scrapes."""
    test: dict[str, Any] = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": _input_series(phases),
                "alert_rule_test": [
                    {"eval_time": f"{minute}m", "alertname": name, "exp_alerts": []}
                    for minute in eval_minutes
                    for name in _alert_names()
                ],
            }
        ],
    }
    code, output = promtool_test(test, tmp / "scraped.test.yaml")
    fired = _parse_fired(output)
    assert code == 0 or fired, output[-5000:]
    return fired


def _parse_fired(output: str) -> Fired:
    """The alerts promtool reports as got where none was expected."""
    fired: Fired = set()
    blocks = r"alertname: (\w+), time: (\w+),\s*exp:\[\],\s*got:\[(.*?)\n\s*\]"
    for block in re.finditer(blocks, output, re.S):
        for labels in re.findall(r"Labels:\{(.*?)\}", block.group(3)):
            pairs = re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels)
            fired.add((block.group(2), block.group(1), tuple(sorted(pairs))))
    return fired


def _expected(name: str, minute: int, severity: str, **labels: str) -> tuple[str, str, Any]:
    every = {"alertname": name, "severity": severity, **TARGET, **labels}
    return (_go_duration(minute), name, tuple(sorted(every.items())))


# --- the test ----------------------------------------------------------------------------------


def _observe(azurite: Azurite, tmp_path: Path) -> list[Phase]:
    replicas = _replicas(azurite, tmp_path)
    try:
        healthy = _scrapes_when(replicas, "one leader", 90)
        azurite.stop()
        outage = _scrapes_when(replicas, "all down", LEASE_SECONDS * 4)
    finally:
        for replica in replicas:
            if replica.process.poll() is None:
                replica.process.kill()
                replica.process.wait(10)
    return [Phase(0, HEALTHY_MINUTES, healthy), Phase(HEALTHY_MINUTES, OUTAGE_MINUTES, outage)]


def test_real_replicas_fire_only_the_store_and_leader_alerts_in_an_outage(
    azurite: Azurite, tmp_path: Path
) -> None:
    phases = _observe(azurite, tmp_path)
    healthy_end, outage = HEALTHY_MINUTES - 1, HEALTHY_MINUTES + 20
    outage_end = HEALTHY_MINUTES + OUTAGE_MINUTES - 1
    fired = _firing(phases, [healthy_end, outage, outage_end], RULES, tmp_path)
    expected = {
        alert
        for minute in (outage, outage_end)
        for alert in (
            _expected("ACSExporterNoLeader", minute, "critical"),
            *(
                _expected("ACSExporterStateStoreDown", minute, "warning", instance=_instance(i))
                for i in range(REPLICAS)
            ),
        )
    }
    assert fired == expected
