"""`State.replayed`: a standby applying a leader's journal records to the state it serves.

The records go through their persisted form (`Change.to_data`, JSON, `Change.from_data`), as
they do through the blob, and every kind of count is in them (series folded by the guard,
rejections, disagreements, folded labels, a cursor left unchanged). The result must be exactly
what loading the snapshot and replaying the journal gives, and what the leader holds.
"""

from __future__ import annotations

import orjson

from acs_exporter.definitions.tables import CALL_SUMMARY, LabelPlan
from acs_exporter.pipeline.aggregate import Delta
from acs_exporter.pipeline.state import Change, State

PLAN = LabelPlan(extra_labels=("call_type",))
MAX_SERIES = 6  # small: later batches' new series are folded into `other`


def _batch(i: int) -> Delta:
    delta = Delta(
        records_read=3 * i, unknown=i % 2, label_names={CALL_SUMMARY.state_key: ("call_type",)}
    )
    for code in (i, i + 1, 487):
        delta.series[(CALL_SUMMARY.state_key, str(code), "0", "Success", ("P2P",))] += i
    delta.rejected["invalid_json"] += 1
    delta.disagreements[("487", "0", "Success", "ClientError")] += i
    return delta


def _through_json(change: Change, read_as: LabelPlan = PLAN) -> Change:
    """`change` written (with PLAN) and read back (with `read_as`)."""
    return Change.from_data(orjson.loads(orjson.dumps(change.to_data(PLAN))), read_as)


def test_replaying_records_gives_the_leaders_state_and_a_whole_load() -> None:
    base = State().apply("la", _batch(1), {"at": 1}, MAX_SERIES)
    state, records = base, []
    for i in range(2, 9):
        cursor = None if i == 5 else {"at": i}  # a batch that leaves the cursor as it is
        state, change = state.applied("la" if i % 3 else "files", _batch(i), cursor, MAX_SERIES)
        records.append(change)
    assert state.folded > 0  # the guard folded some
    assert state.folded_labels
    replayed = base.replayed(_through_json(c) for c in records)
    loaded = State.from_data(base.to_data(PLAN), PLAN, [c.to_data(PLAN) for c in records])
    assert replayed == state
    assert replayed == loaded
    assert replayed.cursors == {"la": {"at": 8}, "files": {"at": 6}}


def test_replaying_under_another_plan_merges_like_a_load() -> None:
    """Records written with an extra label, replayed by a replica without it."""
    base = State().apply("la", _batch(1), {"at": 1}, 100)
    state, change = base.applied("la", _batch(2), {"at": 2}, 100)
    plain = LabelPlan()
    replayed = State.from_data(base.to_data(PLAN), plain).replayed([_through_json(change, plain)])
    assert replayed == State.from_data(state.to_data(PLAN), plain)
    assert replayed.replayed([]) is replayed
