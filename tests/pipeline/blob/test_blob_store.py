"""The checkpoint blob against Azurite through the real SDK: who may write, and when.

A lease alone does not make one writer: a replica can lose it without knowing (a pause, a
partition). So every promise is tried from the losing side: a deposed leader, a stale term, a
lease about to lapse, storage gone.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from azure.storage.blob import BlobClient, BlobLeaseClient

from acs_exporter.definitions.tables import CALL_SUMMARY, LabelPlan
from acs_exporter.pipeline.aggregate import Delta
from acs_exporter.pipeline.blob_store import BlobCheckpoint, StateStoreError, WriteConflict
from acs_exporter.pipeline.checkpoint import CheckpointError, decode
from acs_exporter.pipeline.state import State
from support.azurite import KEY, Azurite

from .conftest import CONTAINER

LEASE = 15


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _client(azurite: Azurite) -> BlobClient:
    return BlobClient.from_connection_string(
        azurite.connection_string, CONTAINER, "checkpoint.json", retry_total=0
    )


def _store(azurite: Azurite, clock: Clock | None = None) -> BlobCheckpoint:
    store = BlobCheckpoint(_client(azurite), LabelPlan(), LEASE, clock or time.monotonic)
    store.lock()
    return store


def _counted(state: State, n: int, cursor: int) -> State:
    delta = Delta(series=Counter({(CALL_SUMMARY.name, "0", "0", "Success", ()): n}), records_read=n)
    return state.apply("src", delta, cursor, 2000)


def _lead(store: BlobCheckpoint) -> State:
    assert store.try_acquire()
    state = store.load()
    store.begin_term()
    return state


def _blob_state(azurite: Azurite) -> State:
    return decode(_client(azurite).download_blob().readall(), LabelPlan(), "blob")


def test_a_deposed_leader_cannot_overwrite_its_successor(azurite: Azurite) -> None:
    first, second = _store(azurite), _store(azurite)
    state = _counted(_lead(first), 5, 1)
    first.save(state)
    # The first leader's lease ends without its knowing (a long pause): broken from outside.
    BlobLeaseClient(_client(azurite)).break_lease(lease_break_period=0)
    successor = _counted(_lead(second), 7, 2)
    second.save(successor)
    with pytest.raises(WriteConflict):
        first.save(_counted(state, 100, 3))
    assert first.conflicts == 1
    assert not first.leading()
    assert _blob_state(azurite).cursors["src"] == 2  # the successor's, untouched


def test_a_second_replica_cannot_take_a_held_lease(azurite: Azurite) -> None:
    first, second = _store(azurite), _store(azurite)
    _lead(first)
    assert not second.try_acquire()
    with pytest.raises(StateStoreError):
        second.save(_counted(State(), 1, 1))  # a standby never writes


def test_writes_stop_before_the_lease_can_lapse(azurite: Azurite) -> None:
    clock = Clock()
    store = _store(azurite, clock)
    state = _lead(store)
    clock.now += LEASE - store.margin - 0.01
    store.save(_counted(state, 1, 1))
    clock.now += 0.02  # renewals failed until here: the lease may lapse in `margin` seconds
    with pytest.raises(StateStoreError, match="before it can lapse"):
        store.save(_counted(state, 2, 2))
    assert _blob_state(azurite).cursors["src"] == 1
    store.renew()
    store.save(_counted(state, 2, 2))  # renewed: writing again


def test_a_poll_bound_to_an_earlier_term_is_refused(azurite: Azurite) -> None:
    store = _store(azurite)
    state = _lead(store)
    assert store.bind_term()  # a poll starts in term 1 ...
    store.end_term()  # ... the lease is lost and won again meanwhile
    state = _lead(store)
    with pytest.raises(StateStoreError, match="leadership changed"):
        store.save(_counted(state, 1, 1))
    assert store.bind_term()
    store.save(_counted(state, 1, 1))


def test_a_standby_follows_the_leaders_commits(azurite: Azurite) -> None:
    leader, standby = _store(azurite), _store(azurite)
    assert standby.load() == State()
    assert standby.refresh() is None  # unchanged: nothing to adopt
    leader.save(_counted(_lead(leader), 4, 9))
    followed = standby.refresh()
    assert followed is not None
    assert followed.cursors["src"] == 9
    assert standby.refresh() is None


def test_a_blob_that_is_not_a_checkpoint_is_refused_with_its_name(azurite: Azurite) -> None:
    _client(azurite).upload_blob(b'{"format": "something else"}\n{}', overwrite=True)
    with pytest.raises(CheckpointError, match=f"azure blob {CONTAINER}/checkpoint.json"):
        _store(azurite).load()


def test_storage_unreachable_fails_the_save_quickly(azurite: Azurite) -> None:
    store = _store(azurite)
    state = _lead(store)
    azurite.stop()
    started = time.monotonic()
    with pytest.raises(StateStoreError, match="cannot write"):
        store.save(_counted(state, 1, 1))
    assert time.monotonic() - started < 10
    with pytest.raises(StateStoreError):
        store.renew()


def test_a_storage_failure_names_no_key_and_no_sas_signature(
    azurite: Azurite, caplog: pytest.LogCaptureFixture
) -> None:
    """The account key (connection strings) and a SAS signature (a container URL with a token)
    are never in a store error or a log line, whatever the transport put in its message."""
    signature = "sig=TOPSECRETSIGNATURE"
    keyed = _store(azurite)
    state = _lead(keyed)
    azurite.stop()
    sas = BlobClient.from_blob_url(
        f"http://127.0.0.1:{azurite.port}/devstoreaccount1/{CONTAINER}/checkpoint.json"
        f"?sv=2024-08-04&sp=rw&{signature}",
        retry_total=0,
    )
    messages = []
    with caplog.at_level("DEBUG"):
        with pytest.raises(StateStoreError) as raised:
            keyed.save(_counted(state, 1, 1))
        messages.append(str(raised.value))
        with pytest.raises(CheckpointError) as refused:  # at start-up: the container
            BlobCheckpoint(sas, LabelPlan(), LEASE, time.monotonic).lock()
        messages.append(str(refused.value))
    shown = "\n".join([*messages, caplog.text])
    assert KEY not in shown
    assert KEY[:20] not in shown
    assert "TOPSECRETSIGNATURE" not in shown
