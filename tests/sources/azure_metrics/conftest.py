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


@pytest.fixture
def make_source(server: FakeAzureMetrics, clock: Clock) -> Iterator[Factory]:
    made: list[AzureMetricsSource] = []

    def factory(credential: Any = None, **overrides: Any) -> AzureMetricsSource:
        values: dict[str, Any] = {
            "type": "azure_metrics",
            "name": "metrics",
            "resource_ids": [ACS1],
            "endpoint": server.url,
            "tls_ca_file": server.ca_file,
            "settle_delay": "3m",
        }
        values.update(overrides)
        source = AzureMetricsSource(
            AzureMetricsSettings(**values), credential=credential or FakeCredential(), clock=clock
        )
        made.append(source)
        return source

    yield factory
    for source in made:
        source.close()


@pytest.fixture
def az_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a real exporter process whose real DefaultAzureCredential, narrowed
    to the Azure CLI credential, gets the local server's token from a stand-in `az`."""
    return azure_cli_env(token_az(tmp_path / "bin", TOKEN))
