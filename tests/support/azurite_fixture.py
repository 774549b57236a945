"""The Azurite of a test: skipped when azurite is not installed, failed under CI=true.

Apart from support/azurite.py, which the benchmarks import too (they have no conftest).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import require_path, require_tool
from support.azurite import AZURITE_BIN, Azurite, azurite_with_container


@contextmanager
def required_azurite(location: Path, container: str) -> Iterator[Azurite]:
    """`azurite_with_container`, once node and tools/azurite are known to be installed."""
    require_tool("node")
    require_path(AZURITE_BIN, "azurite (run `make test`, which runs npm ci in tools/azurite)")
    with azurite_with_container(location, container) as service:
        yield service
