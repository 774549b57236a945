"""Fixtures: a local metrics batch API per test, a settable clock, and a source factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from acs_exporter.sources.azure_metrics.settings import AzureMetricsSettings
from acs_exporter.sources.azure_metrics.source import AzureMetricsSource
from conftest import azure_cli_env, token_az
from support.clock import Clock

from .fake_arm import FakeArm
from .fake_server import TOKEN, FakeAzureMetrics, FakeCredential

SUB = "00000000-0000-4000-8000-00000000000a"
PROVIDER = "providers/Microsoft.Communication/communicationServices"
ACS1 = f"/subscriptions/{SUB}/resourceGroups/rg/{PROVIDER}/acs-one"
ACS2 = f"/subscriptions/{SUB}/resourceGroups/rg/{PROVIDER}/acs-two"
EVENTS = "AcsCallAutomationCallbackEvent"
REQUESTS = "APIRequestCallAutomation"
Factory = Callable[..., AzureMetricsSource]


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC))


@pytest.fixture
def server(clock: Clock) -> Iterator[FakeAzureMetrics]:
    with FakeAzureMetrics(clock=clock) as fake:
        yield fake


def _sources(clock: Clock, defaults: dict[str, Any], **options: Any) -> Iterator[Factory]:
    """A factory of sources with these settings (a test overrides any of them as keywords),
    each closed at teardown."""
    made: list[AzureMetricsSource] = []

    def factory(credential: Any = None, **overrides: Any) -> AzureMetricsSource:
        source = AzureMetricsSource(
            AzureMetricsSettings(**{**defaults, **overrides}),
            credential=credential or FakeCredential(),
            clock=clock,
            **options,
        )
        made.append(source)
        return source

    yield factory
    for source in made:
        source.close()


@pytest.fixture
def make_source(server: FakeAzureMetrics, clock: Clock) -> Iterator[Factory]:
    yield from _sources(
        clock,
        {
            "type": "azure_metrics",
            "name": "metrics",
            "resource_ids": [ACS1],
            "endpoint": server.url,
            "tls_ca_file": server.ca_file,
            "settle_delay": "3m",
        },
    )


@pytest.fixture
def az_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a real exporter process whose real DefaultAzureCredential, narrowed
    to the Azure CLI credential, gets the local server's token from a stand-in `az`."""
    return azure_cli_env(token_az(tmp_path / "bin", TOKEN))


SUB2 = "00000000-0000-4000-8000-00000000000b"


@pytest.fixture
def arm() -> Iterator[FakeArm]:
    """A local ARM that knows SUB (and SUB2), with no ACS resource yet."""
    with FakeArm(page_size=2) as fake:
        fake.subscription(SUB)
        fake.subscription(SUB2)
        yield fake


@pytest.fixture
def ca_bundle(tmp_path: Path, server: FakeAzureMetrics, arm: FakeArm) -> Path:
    """One `tls_ca_file` trusting both local services (as a bundle trusts a proxy's CAs)."""
    path = tmp_path / "ca-bundle.pem"
    path.write_bytes(server.ca_file.read_bytes() + arm.ca_file.read_bytes())
    return path


@pytest.fixture
def make_discovering(
    server: FakeAzureMetrics, arm: FakeArm, ca_bundle: Path, clock: Clock
) -> Iterator[Factory]:
    """A source that discovers SUB's ACS resources through the local ARM (no resource_ids)."""
    yield from _sources(
        clock,
        {
            "type": "azure_metrics",
            "name": "metrics",
            "subscriptions": [SUB],
            "arm_endpoint": arm.url,
            "endpoint": server.url,
            "tls_ca_file": ca_bundle,
            "settle_delay": "3m",
            "discovery_interval": "5m",
        },
        arm_timeout=1.0,
    )
