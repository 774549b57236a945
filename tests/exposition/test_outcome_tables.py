"""The per-change outcome families equal the families built from the whole state, always.

`outcome_families` (families.py) is the plain statement; `OutcomeTables` (what the daemon
publishes) must equal it after any sequence of changes, with and without the `source` label,
and a published snapshot must never change when later batches are applied.
"""

from __future__ import annotations

import random

import pytest

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, MEDIA_SUMMARY, LabelPlan
from acs_exporter.exposition.end_reason_info import EndReasonInfo
from acs_exporter.exposition.families import catalog_info_family, outcome_families
from acs_exporter.exposition.outcome_tables import OutcomeTables
from acs_exporter.pipeline.aggregate import Delta
from acs_exporter.pipeline.daemon import Exporter
from acs_exporter.pipeline.state import State
from acs_exporter.sources.base import Batch, Observation

PLAN = LabelPlan(extra_labels=("call_type",))
CATALOG = load_catalog()


def random_delta(rng: random.Random) -> Delta:
    delta = Delta(label_names={CALL_SUMMARY.state_key: ("call_type",)})
    for _ in range(rng.randrange(1, 6)):
        family = rng.choice((CALL_SUMMARY.state_key, MEDIA_SUMMARY.state_key, "retired_table"))
        extra = (rng.choice(("P2P", "Group")),) if family == CALL_SUMMARY.state_key else ()
        if family == MEDIA_SUMMARY.state_key:
            extra = (rng.choice(("Play", "Recognize")),)
        code = str(rng.choice((0, 487, 500, 603, rng.randrange(1000))))
        delta.series[(family, code, rng.choice(("0", "none")), "Success", extra)] += rng.randrange(
            1, 9
        )
    return delta


@pytest.mark.parametrize("with_source", [False, True])
def test_they_equal_the_families_built_from_the_whole_state(with_source: bool) -> None:
    rng = random.Random(7)
    info = EndReasonInfo(CATALOG)
    tables = OutcomeTables(PLAN, with_source, info)
    state = State()
    for _ in range(300):
        source = rng.choice(("a", "b"))  # without the label, two sources' series are summed
        state, change = state.applied(source, random_delta(rng), None, 100_000)
        tables.add(((source, key), n) for key, n in change.series.items())
        expected = (
            *outcome_families(state, PLAN, with_source),
            catalog_info_family(info, state),
        )
        assert tables.families() == expected


def test_a_published_snapshot_never_changes_and_unchanged_families_are_kept() -> None:
    exporter = Exporter(catalog=CATALOG, source_names=["sim"], plan=PLAN)

    def poll(code: str, n: int) -> None:
        batch = Batch({CALL_SUMMARY: [Observation(code, "0", None, (("call_type", "P2P"),), n)]})
        exporter.complete_poll("sim", batch, 0.01)

    poll("0", 3)
    before = exporter.snapshot()
    frozen = [(f.name, f.samples) for f in before.families]
    poll("0", 4)
    poll("487", 1)
    assert [(f.name, f.samples) for f in before.families] == frozen
    after = exporter.snapshot()
    calls = next(f for f in after.families if f.name == CALL_SUMMARY.metric.name)
    assert [v for _, v in calls.samples] == [7.0, 1.0]
    media = next(f for f in after.families if f.name == MEDIA_SUMMARY.metric.name)
    assert media is next(f for f in before.families if f.name == MEDIA_SUMMARY.metric.name)
