"""The simulator's resources, SDK releases and platforms, and its bad-release scenario."""

from __future__ import annotations

from collections import Counter

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.breakdowns import OS_FAMILIES, os_family, resource_name, sdk_release
from acs_exporter.definitions.tables import CALL_SUMMARY, MEDIA_SUMMARY
from acs_exporter.sources.base import Batch
from acs_exporter.sources.simulator import clients
from acs_exporter.sources.simulator.settings import SimulatorSettings
from acs_exporter.sources.simulator.source import Simulator

START = 1_700_000_000.0
CLIENT_ERROR = "UnexpectedClientError"


def _run(scenario: str, seconds: float, **settings: object) -> Batch:
    clock = [START]
    model = SimulatorSettings.model_validate(
        {"scenario": scenario, "seed": 7, "calls_per_second": 50, **settings}
    )
    sim = Simulator(model, load_catalog(), clock=lambda: clock[0])
    cursor = sim.fetch(None).cursor
    clock[0] += seconds
    return sim.fetch(cursor)


def _by(batch: Batch, label: str) -> dict[str, tuple[int, int]]:
    """Per value of `label`: (call ends, UnexpectedClientError call ends)."""
    calls: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for obs in batch.of(CALL_SUMMARY):
        value = dict(obs.dimensions)[label]
        calls[value] += obs.n
        if obs.service_category == CLIENT_ERROR:
            errors[value] += obs.n
    return {value: (calls[value], errors[value]) for value in calls}


def test_the_labels_are_the_readers_rules_applied_to_realistic_raw_values() -> None:
    batch = _run("steady", 600)
    resources = {resource_name(raw) for raw, _ in clients.RESOURCES}
    releases = {sdk_release(raw) for raw, _ in clients.SDK_VERSIONS}
    families = {os_family(raw) for raw, _ in clients.OS_VERSIONS}
    assert set(_by(batch, "resource")) == resources == {"acs-prod-eu", "acs-prod-us", "acs-staging"}
    assert set(_by(batch, "sdk_version")) == releases | {"unknown"}
    assert set(_by(batch, "os")) == families
    assert families == set(OS_FAMILIES)  # every family the rules know, unknown and other
    media = {dict(o.dimensions)["resource"] for o in batch.of(MEDIA_SUMMARY)}
    assert media == resources
    # PSTN and server endpoints run no calling SDK: no release, no platform.
    for obs in batch.of(CALL_SUMMARY):
        dims = dict(obs.dimensions)
        if dims["endpoint_type"] in ("PSTN", "Server", "BOT"):
            assert (dims["sdk_version"], dims["os"]) == ("unknown", "unknown")


def test_a_bad_release_raises_only_its_own_client_errors_and_only_while_it_lasts() -> None:
    window = {"spike_start": "0s", "spike_duration": "10m", "bad_release_client_error_share": 0.3}
    during = _by(_run("bad-release", 600, **window), "sdk_version")
    bad = clients.BAD_RELEASE.rsplit(".", 1)[0]
    calls, errors = during[bad]
    assert errors / calls > 0.25
    for release, (calls, errors) in during.items():
        if release != bad:
            assert errors / calls < 0.05, (release, calls, errors)
    after = _by(_run("bad-release", 600, spike_start="1h"), "sdk_version")
    calls, errors = after[bad]
    assert errors / calls < 0.05
    steady = _by(_run("steady", 600), "sdk_version")
    assert sum(c for c, _ in steady.values()) == sum(c for c, _ in during.values()) == 30_000
