"""Fixtures: one Kusto checker per session, a local Log Analytics server per test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from conftest import require_path, require_tool

from .fake_server import FakeLogAnalytics
from .kusto import PACKAGE, KustoChecker


class Clock:
    """A settable UTC clock shared by the exporter and the server."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


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
