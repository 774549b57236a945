"""Wiring of state.backend azure_blob: the checkpoint blob, its leadership, the source gate.

Imported only when that backend is configured (it pulls in the Azure Storage SDK).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from acs_exporter.config import Settings
from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.pipeline.blob_store import BlobCheckpoint, open_blob
from acs_exporter.pipeline.leadership import GatedSource, Leadership
from acs_exporter.sources.base import Source


@dataclass
class SharedState:
    store: BlobCheckpoint
    leadership: Leadership

    def gate(self, source: Source, stop: threading.Event) -> Source:
        """`source`, polled only while this replica leads, from its term's cursor."""
        return GatedSource(source, self.store, self.leadership.cursor, stop)


def open_shared_state(settings: Settings, plan: LabelPlan) -> SharedState:
    """The blob store (the blob created if missing) and its leadership, not yet started.
    Raises CheckpointError when the storage cannot be reached or used."""
    blob_settings = settings.state.azure_blob
    assert blob_settings is not None  # the settings validator requires it with this backend
    store = BlobCheckpoint(
        open_blob(blob_settings), plan, int(blob_settings.lease_duration.total_seconds())
    )
    store.lock()
    leadership = Leadership(store, blob_settings.refresh_interval.total_seconds())
    return SharedState(store, leadership)
