"""Fixtures: one Azurite per test (its own directory and port) with a container `acs`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from conftest import require_path, require_tool
from support.azurite import AZURITE_BIN, Azurite

CONTAINER = "acs"


@pytest.fixture
def azurite(tmp_path: Path) -> Iterator[Azurite]:
    require_tool("node")
    require_path(AZURITE_BIN, "azurite (run `make test`, which runs npm ci in tools/azurite)")
    service = Azurite(tmp_path / "azurite").start()
    try:
        BlobServiceClient.from_connection_string(service.connection_string).create_container(
            CONTAINER
        )
        yield service
    finally:
        service.stop()
