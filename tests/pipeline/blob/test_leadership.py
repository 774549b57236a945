"""Leader and standby in one process, against Azurite: what each serves and says on /readyz.

The lease loop is stepped by hand (no thread), so each promise is checked at the moment it
matters: the standby serves the leader's committed counts and is ready without polling; the
leader's storage failing makes it unready, naming the store, and counts nothing unsaved.
"""

from __future__ import annotations

import threading
import time

from azure.storage.blob import BlobClient

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, LabelPlan
from acs_exporter.exposition.snapshot import Snapshot
from acs_exporter.pipeline.backoff import Backoff
from acs_exporter.pipeline.blob_store import BlobCheckpoint
from acs_exporter.pipeline.daemon import Exporter, poll_once
from acs_exporter.pipeline.leadership import GatedSource, Leadership
from acs_exporter.sources.base import Batch, Cursor, Observation
from support.azurite import Azurite

from .conftest import CONTAINER


class Counting:
    """Three call ends a fetch; the cursor counts fetches."""

    name = "la"

    def fetch(self, cursor: Cursor) -> Batch:
        n = int(cursor or 0)
        return Batch({CALL_SUMMARY: [Observation("487", "0", n=3)]}, cursor=n + 1)

    def close(self) -> None:
        pass


def _replica(azurite: Azurite) -> tuple[Exporter, Leadership, GatedSource]:
    blob = BlobClient.from_connection_string(
        azurite.connection_string, CONTAINER, "checkpoint.json", retry_total=0
    )
    store = BlobCheckpoint(blob, LabelPlan(), 15)
    store.lock()
    leadership = Leadership(store, refresh_seconds=0.5)
    exporter = Exporter(
        catalog=load_catalog(), source_names=["la"], checkpoint=store, role=leadership
    )
    leadership.attach(exporter)
    return exporter, leadership, GatedSource(Counting(), store, exporter.cursor, threading.Event())


def _value(snapshot: Snapshot, name: str) -> float:
    return sum(
        float(value)  # type: ignore[arg-type]
        for family in snapshot.families
        if family.name == name
        for _, value in family.samples
    )


def test_the_standby_serves_the_leaders_commits_and_is_ready(azurite: Azurite) -> None:
    leader, leading, source = _replica(azurite)
    standby, following, _ = _replica(azurite)
    leading.step()
    following.step()
    assert (leading.standby(), following.standby()) == (False, True)
    for _ in range(2):
        assert poll_once(source, leader, Backoff(), time.monotonic()) is None
    following.step()
    assert _value(standby.snapshot(), "acs_call_ends") == 6
    assert standby.readiness() == []  # ready although it never polled
    assert _value(standby.snapshot(), "acs_exporter_state_leader") == 0
    assert _value(leader.snapshot(), "acs_exporter_state_leader") == 1
    assert _value(leader.snapshot(), "acs_exporter_state_commits") == 2


def test_storage_lost_the_leader_is_unready_and_counts_nothing_unsaved(azurite: Azurite) -> None:
    leader, leading, source = _replica(azurite)
    leading.step()
    assert poll_once(source, leader, Backoff(), time.monotonic()) is None
    azurite.stop()
    assert poll_once(source, leader, Backoff(), time.monotonic()) is not None  # not saved
    assert _value(leader.snapshot(), "acs_call_ends") == 3
    assert leader.cursor("la") == 1  # the batch is read again once it can be committed
    leading.step()  # the renewal fails
    (problem,) = leader.readiness()
    assert problem.startswith(f"state store azure blob {CONTAINER}/checkpoint.json: ")
    assert "cannot renew the lease" in problem
    assert _value(leader.snapshot(), "acs_exporter_state_store_up") == 0
    azurite.start()
    leading.step()
    assert leader.readiness() == []
    assert poll_once(source, leader, Backoff(), time.monotonic()) is None
    assert _value(leader.snapshot(), "acs_call_ends") == 6
