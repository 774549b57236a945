"""The checkpoint journal: bytes in proportion to change, torn tails, damage, compaction, upgrade.

Every test compares what `load` gives with the state the commits were made from: the journal
must neither lose nor double-count a committed batch, whatever is left on disk.
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from acs_exporter.definitions.tables import CALL_SUMMARY, LabelPlan
from acs_exporter.pipeline import journal
from acs_exporter.pipeline.aggregate import Delta, SeriesKey
from acs_exporter.pipeline.checkpoint import Checkpoint, CheckpointError
from acs_exporter.pipeline.state import Change, State

PLAN = LabelPlan(extra_labels=("call_type",))
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "checkpoints"


def key(code: int, call_type: str = "P2P") -> SeriesKey:
    return (CALL_SUMMARY.state_key, str(code), "0", "Success", (call_type,))


def batch(codes: range | list[int], n: int = 1) -> Delta:
    delta = Delta(records_read=n * len(codes), label_names={CALL_SUMMARY.state_key: ("call_type",)})
    for code in codes:
        delta.series[key(code)] += n
    delta.rejected["invalid_json"] += 1
    return delta


def commits(checkpoint: Checkpoint, state: State, deltas: list[Delta]) -> Iterator[State]:
    """Commit each delta (cursor = its number), yielding the state after each."""
    for number, delta in enumerate(deltas, start=1):
        state, change = state.applied("sim", delta, {"at": number}, 100_000)
        checkpoint.commit(state, change)
        yield state


def seeded(tmp_path: Path, series: int = 2000, **bounds: float) -> tuple[Checkpoint, State]:
    """A checkpoint holding `series` series in its snapshot, its journal not started."""
    checkpoint = Checkpoint(tmp_path / "state.ckpt", PLAN, **bounds)  # type: ignore[arg-type]
    state = State().apply("sim", batch(range(series)), {"at": 0}, 100_000)
    checkpoint.compact(state)
    return checkpoint, state


def test_a_poll_changing_five_series_writes_a_record_not_the_snapshot(tmp_path: Path) -> None:
    checkpoint, state = seeded(tmp_path)
    snapshot = (tmp_path / "state.ckpt").read_bytes()
    assert len(snapshot) > 200_000
    *_, state = commits(checkpoint, state, [batch([1, 2, 3, 4, 5]) for _ in range(10)])
    assert (tmp_path / "state.ckpt").read_bytes() == snapshot  # untouched
    written = checkpoint.journal_path.stat().st_size
    assert written < 10 * 2_000, written  # ten records of five series, and the header
    assert Checkpoint(tmp_path / "state.ckpt", PLAN).load() == state


def test_every_torn_tail_is_dropped_as_never_committed(tmp_path: Path) -> None:
    checkpoint, state = seeded(tmp_path, series=10)
    states = list(commits(checkpoint, state, [batch([1]), batch([2, 3]), batch([12])]))
    raw = checkpoint.journal_path.read_bytes()
    last = raw.rindex(b"\n", 0, len(raw) - 1) + 1  # where the last record starts
    for cut in range(last, len(raw)):
        checkpoint.journal_path.write_bytes(raw[:cut])
        assert Checkpoint(tmp_path / "state.ckpt", PLAN).load() == states[1], cut
    # Whole in length but not in content (a write lost in the page cache at power loss).
    checkpoint.journal_path.write_bytes(raw[:last] + raw[last:].replace(b'"at":3', b'"at":4'))
    assert Checkpoint(tmp_path / "state.ckpt", PLAN).load() == states[1]


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda raw, at: raw[:at] + raw[at:].replace(b'"at":1', b'"at":7', 1), "record 2 is"),
        (lambda raw, at: raw[: at + 3] + raw[at + 9 :], "record 2 is damaged"),
        (lambda raw, at: raw[:at] + b"\n" + raw[at:], "record 2 is damaged"),
        (lambda raw, at: raw.replace(b"acs-exporter-journal", b"acs-exporter-jourNal"), "record 1"),
        (lambda raw, at: raw[:at], "record 1"),  # the last record is the header: never torn
        (lambda raw, at: b"", "no header record"),
    ],
)
def test_a_damaged_journal_is_refused_with_the_way_out(
    tmp_path: Path, damage: object, problem: str
) -> None:
    checkpoint, state = seeded(tmp_path, series=10)
    list(commits(checkpoint, state, [batch([1]), batch([2]), batch([3])]))
    raw = checkpoint.journal_path.read_bytes()
    after_header = raw.index(b"\n") + 1
    damaged = damage(raw, after_header)  # type: ignore[operator]
    if problem == "record 1" and damaged == raw[:after_header]:
        damaged = damaged[:-9] + b"deadbeef\n"  # the header alone, its checksum broken
    checkpoint.journal_path.write_bytes(damaged)
    with pytest.raises(CheckpointError) as error:
        Checkpoint(tmp_path / "state.ckpt", PLAN).load()
    message = str(error.value)
    assert problem in message
    assert str(checkpoint.journal_path) in message
    assert f"mv {checkpoint.journal_path} {checkpoint.journal_path}.broken" in message


def test_a_journal_older_than_the_snapshot_is_not_replayed_twice(tmp_path: Path) -> None:
    # Compaction killed between the snapshot's rename and the journal's removal.
    checkpoint, state = seeded(tmp_path, series=10)
    *_, state = commits(checkpoint, state, [batch([1]), batch([2])])
    stale = tmp_path / "stale"
    shutil.copy(checkpoint.journal_path, stale)
    checkpoint.compact(state)
    assert not checkpoint.journal_path.exists()
    os.replace(stale, checkpoint.journal_path)
    assert Checkpoint(tmp_path / "state.ckpt", PLAN).load() == state
    # The next compaction (the first commit after a start) removes it.
    restarted = Checkpoint(tmp_path / "state.ckpt", PLAN)
    *_, after = commits(restarted, restarted.load(), [batch([3])])
    assert not checkpoint.journal_path.exists()
    assert Checkpoint(tmp_path / "state.ckpt", PLAN).load() == after


def test_compaction_is_bounded_by_size_and_by_age(tmp_path: Path) -> None:
    # By size: the journal grows to the bound or to the snapshot's size, whichever is more
    # (a full write then costs no more than the journal it replaces), then starts again.
    checkpoint, state = seeded(tmp_path, series=10, compact_bytes=1)
    limit = (tmp_path / "state.ckpt").stat().st_size
    sizes = []
    for after in commits(checkpoint, state, [batch([1, 2])] * 40):
        path = checkpoint.journal_path
        sizes.append(path.stat().st_size if path.exists() else 0)
        state = after
    record = max(b - a for a, b in itertools.pairwise(sizes))
    assert max(sizes) < limit + 2 * record
    assert sizes.count(0) >= 2, sizes  # compacted more than once
    assert Checkpoint(tmp_path / "state.ckpt", PLAN).load() == state
    # By age: with a bound of 0 s every commit after the first append compacts.
    aged, state = seeded(tmp_path / "aged", series=10, compact_seconds=0.0)
    snapshot = (tmp_path / "aged" / "state.ckpt").read_bytes()
    *_, state = commits(aged, state, [batch([1])] * 3)
    assert (tmp_path / "aged" / "state.ckpt").read_bytes() != snapshot
    assert Checkpoint(tmp_path / "aged" / "state.ckpt", PLAN).load() == state


def test_a_failed_append_is_not_committed_and_the_next_commit_compacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint, state = seeded(tmp_path, series=10)
    (state,) = commits(checkpoint, state, [batch([1])])
    real_fdatasync = os.fdatasync

    def failing(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fdatasync", failing)
    failed, change = state.applied("sim", batch([2]), {"at": 2}, 100_000)
    with pytest.raises(OSError, match="No space left"):
        checkpoint.commit(failed, change)
    assert Checkpoint(tmp_path / "state.ckpt", PLAN).load() == state  # cut back to record 1
    monkeypatch.setattr(os, "fdatasync", real_fdatasync)
    (after,) = commits(checkpoint, state, [batch([3])])  # the daemon retries from `state`
    assert not checkpoint.journal_path.exists()  # compacted, no half record behind it
    assert Checkpoint(tmp_path / "state.ckpt", PLAN).load() == after


def test_the_journal_follows_a_change_of_extra_labels(tmp_path: Path) -> None:
    checkpoint, state = seeded(tmp_path, series=3)
    delta = Delta(label_names={CALL_SUMMARY.state_key: ("call_type",)})
    delta.series[key(1, "Group")] += 4
    after, change = state.applied("sim", delta, None, 100)
    checkpoint.commit(after, change)  # a journal record over the snapshot
    assert checkpoint.journal_path.exists()
    merged = Checkpoint(tmp_path / "state.ckpt", LabelPlan()).load()
    assert merged.series[("sim", (CALL_SUMMARY.state_key, "1", "0", "Success", ()))] == 5


def test_a_checkpoint_of_the_previous_release_loads_and_journals_on(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    shutil.copy(FIXTURES / "before-tables.json", path)
    old = Checkpoint(path, PLAN).load()
    restarted = Checkpoint(path, PLAN)
    *_, state = commits(restarted, restarted.load(), [batch([1]), batch([2])])
    assert restarted.journal_path.exists()  # the first commit compacted, the second appended
    loaded = Checkpoint(path, PLAN).load()
    assert loaded == state
    assert loaded.sources["files"] == old.sources["files"]
    assert {k: v for k, v in loaded.series.items() if k[0] == "files"} == {
        k: v for k, v in old.series.items() if k[0] == "files"
    }


def test_a_record_is_framed_with_its_length_and_checksum() -> None:
    record = journal.frame(b'{"a":1}')
    length, digest, payload = record.rstrip(b"\n").split(b" ")
    assert (int(length), len(digest), payload) == (7, 64, b'{"a":1}')
    contents = journal.read(journal.header("b") + record)
    assert (contents.base, contents.records, contents.torn_tail) == ("b", [{"a": 1}], False)
    assert Change("s", None, {}).to_data(PLAN)["cursor"] is None  # None: the cursor stays


def test_states_sharing_their_series_never_see_each_others_changes() -> None:
    # State.applied shares the series mapping between successive states (state.Series): an
    # older state, or a sibling applied from the same one (a failed commit, then a retry),
    # must keep its own counts, across the merges of the overlay too.
    state = State().apply("sim", batch(range(3000)), None, 100_000)
    expected = {k: dict(v) for k, v in [(0, state.series.items())]}
    history = [state]
    rng = random.Random(3)
    for step in range(1, 300):
        codes = [rng.randrange(3100) for _ in range(rng.randrange(1, 30))]
        sibling = history[-1].apply("sim", batch(codes, n=1000), None, 100_000)
        assert sibling.series != history[-1].series
        history.append(history[-1].apply("sim", batch(codes), None, 100_000))
        counts = dict(expected[step - 1])
        for code in codes:
            counts[("sim", key(code))] = counts.get(("sim", key(code)), 0) + 1
        expected[step] = counts
    for step, s in enumerate(history):
        assert len(s.series) == len(expected[step])
        assert dict(s.series.items()) == expected[step]
        assert {k: s.series[k] for k in s.series} == expected[step]


def test_lock_removes_temporary_journals_of_a_killed_start(tmp_path: Path) -> None:
    checkpoint, _ = seeded(tmp_path, series=3)
    (tmp_path / ".state.ckpt.journal.k3x_9a2q").write_bytes(b"a journal never renamed")
    (tmp_path / ".state.ckpt.journals.k3x_9a2q").write_bytes(b"not ours")
    checkpoint.lock()
    try:
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            ".state.ckpt.journals.k3x_9a2q",
            "state.ckpt",
            "state.ckpt.lock",
        ]
    finally:
        checkpoint.unlock()
