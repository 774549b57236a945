"""Every breakdown label on at once: the guard still bounds the series with exact category
totals, and switching the labels on or off keeps every count (docs/configuration.md)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from acs_exporter.catalog import Domain, load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, EXTRA_LABELS, MEDIA_SUMMARY, LabelPlan
from acs_exporter.pipeline.aggregate import Resolver, summarise
from acs_exporter.pipeline.checkpoint import Checkpoint
from acs_exporter.pipeline.state import State
from acs_exporter.sources.base import Batch, Observation

CODES = (("0", "0"), ("487", "10003"), ("480", "10037"), ("500", "0"), ("490", "4502"))
LIMIT = 1_000
PER_BATCH = 10_000
BOUND = LIMIT + LIMIT // 10 + 2 * 5 * 2  # as test_cardinality: limit, headroom, folded
ALL = LabelPlan(extra_labels=EXTRA_LABELS)


def _dims(rng: random.Random) -> tuple[tuple[str, str], ...]:
    return (
        ("call_type", rng.choice(("P2P", "Group"))),
        ("endpoint_type", rng.choice(("VoIP", "PSTN", "Server", "BOT", "Unknown"))),
        ("os", rng.choice(("windows", "macos", "ios", "android", "linux", "other", "unknown"))),
        ("participant_type", rng.choice(("ACS", "Teams", "ACS as Teams external user"))),
        ("resource", f"acs-{rng.randrange(40)}"),
        ("sdk_version", f"1.{rng.randrange(40)}"),
    )


def _totals(state: State, family: str) -> Counter[str]:
    totals: Counter[str] = Counter()
    for (_source, (fam, _code, _sub, category, _extra)), value in state.series.items():
        if fam == family:
            totals[category] += value
    return totals


def _fill(state: State, resolver: Resolver, batches: int) -> tuple[State, Counter[str]]:
    rng = random.Random(13)
    category = {p: resolver.resolve(*p, None, Domain.CALL_END).category for p in CODES}
    expected: Counter[str] = Counter()
    for b in range(batches):
        observations = []
        media = []
        for i in range(PER_BATCH):
            pair = CODES[i % len(CODES)]
            observations.append(Observation(*pair, None, _dims(rng), 1))
            expected[category[pair]] += 1
            media.append(
                Observation(
                    "200", "0", None, (("operation", "Play"), ("resource", f"acs-{i % 50}")), 1
                )
            )
        batch = Batch({CALL_SUMMARY: observations, MEDIA_SUMMARY: media})
        state = state.apply("la", summarise(batch, resolver, ALL), {"b": b}, LIMIT)
        assert len(state.series) <= BOUND
    return state, expected


def test_every_label_on_stays_bounded_with_exact_category_totals(tmp_path: Path) -> None:
    resolver = Resolver(load_catalog())
    state, expected = _fill(State(), resolver, batches=3)
    assert _totals(state, CALL_SUMMARY.state_key) == expected
    assert sum(_totals(state, MEDIA_SUMMARY.state_key).values()) == 3 * PER_BATCH
    folded = {label for (_family, label) in state.folded_labels}
    assert {"resource", "sdk_version"} <= folded
    checkpoint = Checkpoint(tmp_path / "state", ALL)
    checkpoint.save(state)
    assert checkpoint.load().series == state.series


def test_switching_the_breakdown_labels_off_and_on_keeps_every_count(tmp_path: Path) -> None:
    resolver = Resolver(load_catalog())
    state, expected = _fill(State(), resolver, batches=1)
    path = tmp_path / "state"
    Checkpoint(path, ALL).save(state)
    fewer = LabelPlan(extra_labels=("call_type",))
    merged = Checkpoint(path, fewer).load()
    assert _totals(merged, CALL_SUMMARY.state_key) == expected
    assert {
        len(extra)
        for (_s, (f, *_r, extra)), _n in merged.series.items()
        if f == CALL_SUMMARY.state_key
    } == {1}
    assert sum(_totals(merged, MEDIA_SUMMARY.state_key).values()) == PER_BATCH
    Checkpoint(path, fewer).save(merged)
    back = Checkpoint(path, ALL).load()  # switched on again: old counts have empty values
    assert _totals(back, CALL_SUMMARY.state_key) == expected
    assert sum(_totals(back, MEDIA_SUMMARY.state_key).values()) == PER_BATCH
