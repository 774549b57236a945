"""The checkpoint blob written (and followed) in proportion to change, against Azurite.

The blob is a block blob: the snapshot, then one committed block per batch. What a commit
uploads and what a standby downloads is counted at the SDK's real HTTP transport
(support/blob_traffic.py), at two state sizes, so "proportional to the change, not to the state"
is measured, not assumed. Every write is still refused from the losing side (no lease, stale
ETag), a blob written by the whole-PUT release still loads, and a block that does not decode is
an error naming the blob and the block.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from azure.core import MatchConditions
from azure.storage.blob import BlobBlock, BlobClient, BlobLeaseClient

from acs_exporter.definitions.tables import CALL_SUMMARY, LabelPlan
from acs_exporter.exposition.snapshot import Snapshot
from acs_exporter.pipeline import blob_journal, journal
from acs_exporter.pipeline.aggregate import Delta
from acs_exporter.pipeline.backoff import Backoff
from acs_exporter.pipeline.blob_store import BlobCheckpoint, WriteConflict
from acs_exporter.pipeline.checkpoint import CheckpointError, encode
from acs_exporter.pipeline.daemon import poll_once
from acs_exporter.pipeline.state import Change, State
from support.azurite import Azurite
from support.blob_traffic import CountingTransport, Traffic
from support.journal_driver import delta

from .conftest import CONTAINER
from .test_leadership import _replica

LEASE = 15
BLOB = "checkpoint.json"
DRIVER = Path(__file__).resolve().parents[2] / "support" / "blob_driver.py"


def _client(azurite: Azurite, name: str = BLOB, traffic: Traffic | None = None) -> BlobClient:
    transport = {} if traffic is None else {"transport": CountingTransport(traffic)}
    return BlobClient.from_connection_string(
        azurite.connection_string, CONTAINER, name, retry_total=0, **transport
    )


def _store(
    azurite: Azurite, name: str = BLOB, traffic: Traffic | None = None, **bounds: int
) -> BlobCheckpoint:
    store = BlobCheckpoint(_client(azurite, name, traffic), LabelPlan(), LEASE, **bounds)
    store.lock()
    return store


def _lead(store: BlobCheckpoint) -> State:
    assert store.try_acquire()
    state = store.load()
    store.begin_term()
    return state


def _seeded(series: int) -> tuple[State, Change]:
    delta = Delta(
        series=Counter(
            {(CALL_SUMMARY.state_key, str(1000 + i), "0", "Success", ()): 1 for i in range(series)}
        ),
        records_read=series,
    )
    return State().applied("src", delta, 0, series + 100)


def _five_changed(state: State, i: int) -> tuple[State, Change]:
    """A poll that counts into 5 existing series and moves the cursor."""
    delta = Delta(
        series=Counter(
            {(CALL_SUMMARY.state_key, str(1000 + k), "0", "Success", ()): i for k in range(5)}
        ),
        records_read=5 * i,
    )
    return state.applied("src", delta, i, 1_000_000)


def _committed_blocks(azurite: Azurite, name: str = BLOB) -> list[int]:
    """The sizes of the blob's committed blocks."""
    committed, _ = _client(azurite, name).get_block_list("committed")
    return [block.size for block in committed]


def _per_commit(azurite: Azurite, series: int) -> tuple[float, float, int]:
    """(bytes uploaded per commit, write operations per commit, snapshot bytes) over 10
    commits of 5 changed series into a state of `series` series."""
    traffic = Traffic()
    store = _store(azurite, f"size-{series}", traffic)
    _lead(store)
    state, change = _seeded(series)
    store.commit(state, change)  # the first commit of a term on a plain blob: a snapshot
    snapshot = len(encode(state, LabelPlan()))
    mark = traffic.mark()
    for i in range(1, 11):
        state, change = _five_changed(state, i)
        store.commit(state, change)
    writes = traffic.writes_since(mark)
    return traffic.sent_since(mark) / 10, len(writes) / 10, snapshot


def test_bytes_uploaded_per_commit_do_not_grow_with_the_state(azurite: Azurite) -> None:
    small, small_writes, _ = _per_commit(azurite, 100)
    large, large_writes, snapshot = _per_commit(azurite, 5_000)
    assert snapshot > 500_000  # what the whole-state PUT would upload per commit
    assert large <= 2 * small, (small, large)
    assert large < 5_000, large  # a few records' worth, not the state
    assert small_writes == large_writes == 2  # stage_block + commit_block_list


def test_a_standby_downloads_only_the_new_commits(azurite: Azurite) -> None:
    leader = _store(azurite)
    traffic = Traffic()
    standby = _store(azurite, traffic=traffic)
    _lead(leader)
    state, change = _seeded(5_000)
    leader.commit(state, change)
    followed = standby.refresh()
    assert followed == state
    for i in range(1, 21):
        state, change = _five_changed(state, i)
        leader.commit(state, change)
        mark = traffic.mark()
        followed = standby.refresh()
        assert followed == state, i
        assert traffic.received_since(mark) < 3_000, traffic.since(mark)
    mark = traffic.mark()
    assert standby.refresh() is None  # unchanged: a conditional read, nothing downloaded
    assert traffic.received_since(mark) == 0
    records = 0
    for i in range(21, 31):  # ten commits between two refreshes: their ten records
        state, change = _five_changed(state, i)
        leader.commit(state, change)
        records += len(blob_journal.delta_block(change, LabelPlan()))
    mark = traffic.mark()
    assert standby.refresh() == state
    assert traffic.received_since(mark) == records
    assert _store(azurite).load() == state


def test_a_standby_reads_the_whole_blob_again_after_a_compaction(azurite: Azurite) -> None:
    leader, standby = _store(azurite, compact_blocks=3), _store(azurite)
    state = _lead(leader)
    for i in range(1, 12):
        state, change = _five_changed(state, i)
        leader.commit(state, change)
        followed = standby.refresh()
        assert followed == state, i
    leader.compact(state)  # nothing new: the snapshot alone (a clean stop)
    assert _committed_blocks(azurite) == [len(encode(state, LabelPlan()))]
    assert standby.refresh() in (None, state)


def test_a_standby_that_missed_a_compaction_reads_the_new_generation_whole(
    azurite: Azurite,
) -> None:
    """The blob is longer than what the standby read, but from another snapshot: the bytes
    after its offset are not its next blocks (the generation in the metadata says so)."""
    leader, standby = _store(azurite, compact_blocks=3), _store(azurite)
    state = _lead(leader)
    for i in range(1, 3):  # a snapshot and a delta
        state, change = _five_changed(state, i)
        leader.commit(state, change)
    assert standby.refresh() == state
    for i in range(3, 9):  # 2 more deltas, a new snapshot, 3 deltas: longer than before
        state, change = _five_changed(state, i)
        leader.commit(state, change)
    assert len(_committed_blocks(azurite)) == 4
    assert standby.refresh() == state
    assert standby.increments(state) is None  # read whole, not as new batches


def test_compaction_when_the_block_bound_is_hit(azurite: Azurite) -> None:
    store = _store(azurite, compact_blocks=3)
    state = _lead(store)
    counts = []
    for i in range(1, 10):
        state, change = _five_changed(state, i)
        store.commit(state, change)
        counts.append(len(_committed_blocks(azurite)))
        assert _store(azurite).load() == state, i
    # The first commit of the term writes a snapshot; then 3 deltas at most before the next.
    assert counts == [1, 2, 3, 4, 1, 2, 3, 4, 1]


def test_compaction_when_the_uploads_reach_the_snapshots_size(azurite: Azurite) -> None:
    """What the commits since the snapshot uploaded (records and block lists) never passes
    the snapshot's size by more than one commit: then a snapshot is written instead."""
    store = _store(azurite, compact_bytes=1)  # the bound is then the snapshot's size
    state = _lead(store)
    compactions = 0
    for i in range(1, 30):
        state, change = _five_changed(state, i)
        store.commit(state, change)
        sizes = _committed_blocks(azurite)
        compactions += len(sizes) == 1
        journal_bytes = sum(sizes[1:])
        assert journal_bytes < sizes[0] + max(sizes[1:], default=0), sizes
    assert compactions >= 2
    assert _store(azurite).load() == state


def _two_replicas(azurite: Azurite) -> tuple[BlobCheckpoint, BlobCheckpoint, State]:
    """A first replica leading, with 10 series committed, and a second one."""
    first, second = _store(azurite), _store(azurite)
    state, change = _seeded(10)
    _lead(first)
    first.commit(state, change)
    return first, second, state


def test_a_deposed_leader_cannot_append(azurite: Azurite) -> None:
    first, second, state = _two_replicas(azurite)
    ours, change = _five_changed(state, 1)
    first.commit(ours, change)
    # The first leader's lease ends without its knowing (a long pause): broken from outside.
    BlobLeaseClient(_client(azurite)).break_lease(lease_break_period=0)
    successor, change = _five_changed(_lead(second), 2)
    second.commit(successor, change)
    commits = first.commits
    late, change = _five_changed(ours, 3)
    with pytest.raises(WriteConflict):
        first.commit(late, change)
    assert (first.conflicts, first.commits, first.leading()) == (1, commits, False)
    assert _store(azurite).load() == successor


def test_a_leader_with_a_stale_view_cannot_append(azurite: Azurite) -> None:
    """It holds the lease again, but the blob changed since it last read it."""
    first, second, state = _two_replicas(azurite)
    first.unlock()  # a clean stop: lease released
    first = _store(azurite)
    first.load()
    newer, change = _five_changed(_lead(second), 1)
    second.commit(newer, change)
    second.unlock()
    assert first.try_acquire()
    first.begin_term()  # without re-reading the blob: its ETag is stale
    stale, change = _five_changed(state, 2)
    with pytest.raises(WriteConflict):
        first.commit(stale, change)
    assert first.conflicts == 1
    assert _store(azurite).load() == newer


def test_a_blob_written_whole_by_the_previous_release_loads(azurite: Azurite) -> None:
    state, _ = _seeded(20)
    _client(azurite).upload_blob(encode(state, LabelPlan()), overwrite=True)  # one Put Blob
    assert _committed_blocks(azurite) == []
    standby = _store(azurite)
    assert standby.load() == state
    store = _store(azurite)
    assert _lead(store) == state
    for i in range(1, 4):
        state, change = _five_changed(state, i)
        store.commit(state, change)
        assert standby.refresh() == state
    assert len(_committed_blocks(azurite)) == 3  # a snapshot, then two deltas
    assert _store(azurite).load() == state


def test_a_compacted_blob_is_what_the_previous_release_reads(azurite: Azurite) -> None:
    """Downgrade: after a clean stop the blob is exactly one snapshot in the old format."""
    store = _store(azurite)
    state = _lead(store)
    for i in range(1, 4):
        state, change = _five_changed(state, i)
        store.commit(state, change)
    store.compact(state)
    assert _client(azurite).download_blob().readall() == encode(state, LabelPlan())


def _append_block(azurite: Azurite, data: bytes) -> None:
    """Commit one more block after the blob's committed ones, keeping its metadata."""
    client = _client(azurite)
    committed, _ = client.get_block_list("committed")
    properties = client.get_blob_properties()
    client.stage_block("f" * 16, data)
    client.commit_block_list(
        [BlobBlock(b.id) for b in committed] + [BlobBlock("f" * 16)],
        metadata=properties.metadata,
        etag=properties.etag,
        match_condition=MatchConditions.IfNotModified,
    )


@pytest.mark.parametrize(
    "block",
    [
        b"\nnot a framed record",
        b"\n" + journal.frame(b'{"source": "src"}')[:-1],  # framed, but not a Change
        b"\n" + journal.frame(b"[1, 2")[:-1],
    ],
    ids=["unframed", "not-a-change", "not-json"],
)
def test_a_block_that_does_not_decode_names_the_blob_and_the_block(
    azurite: Azurite, block: bytes
) -> None:
    store = _store(azurite)
    state = _lead(store)
    for i in range(1, 3):
        state, change = _five_changed(state, i)
        store.commit(state, change)
    standby = _store(azurite)
    assert standby.load() == state
    store.unlock()
    _append_block(azurite, block)
    where = f"azure blob {CONTAINER}/{BLOB}"
    with pytest.raises(CheckpointError, match=f"{where}.*block 3 of 3"):
        _store(azurite).load()
    with pytest.raises(CheckpointError, match=f"{where}.*block 3 of 3"):
        standby.refresh()


def test_loading_is_consistent_while_the_leader_commits(azurite: Azurite) -> None:
    """A replica reading while the leader appends never gets a state that is no commit's."""
    leader = _store(azurite)
    state = _lead(leader)
    states = [state]
    for i in range(1, 8):
        state, change = _five_changed(state, i)
        leader.commit(state, change)
        states.append(state)
        started = time.monotonic()
        assert _store(azurite).load() in states
        assert time.monotonic() - started < 10


def _drive(azurite: Azurite, batches: int, kill_at: int) -> str:
    done = subprocess.run(
        [sys.executable, str(DRIVER), CONTAINER, BLOB, str(batches), str(kill_at)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout, done.stderr)
    return done.stdout


def _exactly(state: State, last: int) -> None:
    """`state` holds exactly the driver's batches 1..last."""
    expected: Counter[str] = Counter()
    for i in range(1, last + 1):
        expected[str(i % 40)] += i
    counted = {key[1]: n for (_, key), n in state.series.items()}
    assert (state.cursors.get("driver"), counted) == (last or None, dict(expected))
    assert state.sources["driver"].records_read == sum(range(1, last + 1))


@pytest.mark.parametrize("kill_at", [1, 4], ids=["in-the-snapshot", "in-a-delta"])
def test_sigkill_between_stage_and_commit_loses_and_double_counts_nothing(
    azurite: Azurite, kill_at: int
) -> None:
    """The leader dies with its block staged, not committed: the batch never happened (it
    was not counted; the storage drops the block), and the successor goes on from the last
    committed batch."""
    standby = _store(azurite)
    stdout = _drive(azurite, 10, kill_at)
    assert stdout.splitlines()[-1] == f"staged {kill_at}", stdout
    _, uncommitted = _client(azurite).get_block_list("uncommitted")
    assert len(uncommitted) == 1  # the dead leader's block, staged only
    if kill_at > 1:
        followed = standby.refresh()
        assert followed is not None
        _exactly(followed, kill_at - 1)
    # Its lease would lapse within LEASE seconds; broken here so the test need not wait.
    BlobLeaseClient(_client(azurite)).break_lease(lease_break_period=0)
    successor = _store(azurite)
    state = _lead(successor)
    if kill_at > 1:
        _exactly(state, kill_at - 1)
    for i in range(kill_at, kill_at + 3):
        state, change = state.applied("driver", delta(i), i, 100_000)
        successor.commit(state, change)
    _exactly(_store(azurite).load(), kill_at + 2)
    assert _client(azurite).get_block_list("uncommitted")[1] == []


def _outcomes(snapshot: Snapshot) -> list[tuple[str, object]]:
    return [(f.name, f.samples) for f in snapshot.families if f.name == "acs_call_ends"]


def test_a_standby_serves_by_the_new_batches_what_a_whole_read_serves(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The standby's exporter applies the leader's new batches to the families it serves
    (as after its own poll), and serves exactly what one built from the whole blob serves."""
    leader, leading, source = _replica(azurite)
    standby, following, _ = _replica(azurite)
    leading.step()
    following.step()
    followed: list[int] = []
    real_follow = standby.follow

    def follow(base: State, state: State, changes: Sequence[Change]) -> None:
        followed.append(len(changes))
        real_follow(base, state, changes)

    monkeypatch.setattr(standby, "follow", follow)
    for n in range(1, 6):
        assert poll_once(source, leader, Backoff(), time.monotonic()) is None
        following.step()
        whole, _, _ = _replica(azurite)  # a new replica: it reads the blob whole
        assert _outcomes(standby.snapshot()) == _outcomes(whole.snapshot()), n
        assert _outcomes(standby.snapshot()) == _outcomes(leader.snapshot()), n
    # The leader's first commit wrote a snapshot (a new generation: read whole), then deltas.
    assert followed == [1, 1, 1, 1]
