"""Fixtures: one Azurite per test (its own directory and port) with a container `acs`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.azurite import Azurite
from support.azurite_fixture import required_azurite

CONTAINER = "acs"


@pytest.fixture
def azurite(tmp_path: Path) -> Iterator[Azurite]:
    with required_azurite(tmp_path / "azurite", CONTAINER) as service:
        yield service
