"""Azurite, Microsoft's Azure Storage emulator (npm, tools/azurite), as a test service.

Blob service only, on 127.0.0.1 and a free port, telemetry off, its data in a directory (not in
memory) so a restart on the same port keeps the blobs and leases, as a real outage would.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .ports import free_port

REPO = Path(__file__).resolve().parent.parent.parent
AZURITE_BIN = REPO / "tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development account key (public, in Microsoft's documentation).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class Azurite:
    def __init__(self, location: Path) -> None:
        self.location = location
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self.log = location / "azurite.log"

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def container_url(self, container: str) -> str:
        return f"{self.blob_endpoint}/{container}"

    def state_settings(self, container: str, lease_seconds: int, refresh: str) -> dict[str, Any]:
        """An exporter's `state:` with backend azure_blob on `container` of this Azurite (the
        connection string read from AZURE_STORAGE_CONNECTION_STRING)."""
        return {
            "backend": "azure_blob",
            "azure_blob": {
                "container_url": self.container_url(container),
                "auth_mode": "connection_string",
                "lease_duration": f"{lease_seconds}s",
                "refresh_interval": refresh,
            },
        }

    def start(self, timeout: float = 60.0) -> Azurite:
        self.location.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [
                    str(AZURITE_BIN),
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    str(self.port),
                    "--location",
                    str(self.location / "data"),
                    "--disableTelemetry",
                    "--skipApiVersionCheck",
                    "--silent",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"azurite exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"azurite did not listen within {timeout}s")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


@contextmanager
def azurite_with_container(location: Path, container: str) -> Iterator[Azurite]:
    """A running Azurite holding an empty `container`, stopped on leaving."""
    from azure.storage.blob import BlobServiceClient

    service = Azurite(location).start()
    try:
        BlobServiceClient.from_connection_string(service.connection_string).create_container(
            container
        )
        yield service
    finally:
        service.stop()
