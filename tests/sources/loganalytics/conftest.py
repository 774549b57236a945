"""Fixtures: one Kusto checker per session, a local Log Analytics server per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from acs_exporter.sources.loganalytics.source import LogAnalyticsSource
from conftest import fake_az as write_fake_az
from conftest import require_path, require_tool
from support.clock import Clock

from .fake_server import TOKEN, FakeCredential, FakeLogAnalytics
from .kusto import PACKAGE, KustoChecker

WS = "11111111-1111-1111-1111-111111111111"
Factory = Callable[..., LogAnalyticsSource]


@pytest.fixture(scope="session")
def kusto() -> Iterator[KustoChecker]:
    require_tool("node")
    require_path(PACKAGE, "@kusto/language-service-next (run `make test`, which runs npm ci)")
    checker = KustoChecker()
    yield checker
    checker.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC))


@pytest.fixture
def server(kusto: KustoChecker, clock: Clock) -> Iterator[FakeLogAnalytics]:
    with FakeLogAnalytics(kusto, clock=clock) as fake:
        yield fake


@pytest.fixture
def make_source(server: FakeLogAnalytics, clock: Clock) -> Iterator[Factory]:
    made: list[LogAnalyticsSource] = []

    def factory(
        credential: Any = None,
        source_clock: Callable[[], datetime] = clock,
        plan: LabelPlan = LabelPlan(),  # noqa: B008 (immutable)
        **overrides: Any,
    ) -> LogAnalyticsSource:
        values: dict[str, Any] = {
            "type": "log_analytics",
            "workspace_ids": [WS],
            "endpoint": server.url,
            "tls_ca_file": server.ca_file,
            "safety_lag": timedelta(minutes=2),
            "poll_interval": timedelta(seconds=60),
            "max_window": timedelta(hours=1),
        }
        values.update(overrides)
        source = LogAnalyticsSource(
            LogAnalyticsSettings(**values),
            credential=credential or FakeCredential(),
            clock=source_clock,
            plan=plan,
        )
        made.append(source)
        return source

    yield factory
    for source in made:
        source.close()


@pytest.fixture
def fake_az(tmp_path: Path) -> Path:
    """A stand-in Azure CLI: `az account get-access-token` prints the local server's token."""
    return write_fake_az(
        tmp_path / "bin",
        "import json, time\n"
        f"print(json.dumps({{'accessToken': {TOKEN!r}, 'expires_on': int(time.time()) + 3600,"
        " 'tokenType': 'Bearer'}))",
    )
