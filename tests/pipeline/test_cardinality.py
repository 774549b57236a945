"""The cardinality guard: every label that comes from data is bounded, category totals exact.

A million distinct label values go through the real pipeline (summarise, State.apply, the
checkpoint, the snapshot families), and a real daemon reads ~100k distinct callType values from
a files source.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import yaml

from acs_exporter.catalog import Domain, load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, MEDIA_SUMMARY, LabelPlan
from acs_exporter.exposition.families import self_families
from acs_exporter.pipeline.aggregate import OTHER, Resolver, summarise
from acs_exporter.pipeline.checkpoint import Checkpoint
from acs_exporter.pipeline.state import State, StateKey
from acs_exporter.sources.base import Batch, Observation
from support.daemon_helpers import samples, start

# (code, subcode, category as the shipped catalog resolves it)
CODES = (("0", "0"), ("487", "10003"), ("480", "10037"), ("500", "1"), ("603", "0"))
LIMIT = 500
# Bound the docs promise: the limit, a tenth of it for partly folded series, and one fully
# folded series per family and category (five categories) and source.
BOUND = LIMIT + LIMIT // 10 + 2 * 5


def categories_of(resolver: Resolver, domain: Domain) -> dict[tuple[str, str], str]:
    return {pair: resolver.resolve(*pair, None, domain).category for pair in CODES}


def category_totals(state: State, family: str) -> Counter[str]:
    totals: Counter[str] = Counter()
    for (_source, (fam, _code, _sub, category, _extra)), value in state.series.items():
        if fam == family:
            totals[category] += value
    return totals


def test_a_million_distinct_call_types_stay_bounded_with_exact_category_totals(
    tmp_path: Path,
) -> None:
    resolver = Resolver(load_catalog())
    plan = LabelPlan(extra_labels=("call_type",))
    category = categories_of(resolver, Domain.CALL_END)
    expected: Counter[str] = Counter()
    state = State()
    early: dict[StateKey, int] = {}
    batches, per_batch = 10, 100_000
    for b in range(batches):
        observations = []
        for i in range(per_batch):
            pair = CODES[i % len(CODES)]
            observations.append(Observation(*pair, None, (("call_type", f"type-{b}-{i}"),), 1))
            expected[category[pair]] += 1
        delta = summarise(Batch({CALL_SUMMARY: observations}), resolver, plan)
        state = state.apply("files", delta, {"batch": b}, LIMIT)
        if b == 0:
            early = dict(state.series)
        assert len(state.series) <= BOUND
    # Every call end still counts, under its own category.
    assert category_totals(state, CALL_SUMMARY.state_key) == expected
    assert state.sources["files"].records_read == batches * per_batch
    # Series counted before the limit keep their counts; only new values were folded.
    for key, value in early.items():
        assert state.series[key] >= value
    # The folding is counted, by family and label, and matches what sits under `other`.
    folded_call_types = sum(
        v for (_s, (_f, _c, _sub, _cat, extra)), v in state.series.items() if extra == (OTHER,)
    )
    assert folded_call_types >= batches * per_batch - LIMIT
    assert state.folded_labels[(CALL_SUMMARY.state_key, "call_type")] == folded_call_types
    # Known codes keep their own series even when their call type is folded.
    assert (
        "files",
        (CALL_SUMMARY.state_key, "487", "10003", category[("487", "10003")], (OTHER,)),
    ) in (state.series)
    # The checkpoint stays bounded too, and keeps the folding counts.
    checkpoint = Checkpoint(tmp_path / "state", plan)
    checkpoint.save(state)
    assert (tmp_path / "state").stat().st_size < 200_000
    loaded = checkpoint.load()
    assert loaded.series == state.series
    assert loaded.folded_labels == state.folded_labels


def test_a_million_distinct_operation_names_fold_without_any_configuration() -> None:
    resolver = Resolver(load_catalog())
    plan = LabelPlan()  # media results carry `operation` by default
    category = categories_of(resolver, Domain.CALL_AUTOMATION)
    expected: Counter[str] = Counter()
    state = State()
    for b in range(10):
        observations = []
        for i in range(100_000):
            pair = CODES[i % len(CODES)]
            observations.append(Observation(*pair, None, (("operation", f"Op{b}x{i}"),), 1))
            expected[category[pair]] += 1
        state = state.apply(
            "la", summarise(Batch({MEDIA_SUMMARY: observations}), resolver, plan), None, LIMIT
        )
    assert len(state.series) <= BOUND
    assert category_totals(state, MEDIA_SUMMARY.state_key) == expected
    assert state.folded_labels[(MEDIA_SUMMARY.state_key, "operation")] >= 1_000_000 - LIMIT


def test_past_the_limit_a_new_value_folds_only_in_its_own_label() -> None:
    resolver = Resolver(load_catalog())
    plan = LabelPlan(extra_labels=("call_type",))

    def batch(*rows: tuple[str, str, str, int]) -> Batch:
        return Batch(
            {CALL_SUMMARY: [Observation(c, s, None, (("call_type", t),), n) for c, s, t, n in rows]}
        )

    fillers = [("500", "1", f"Fill{i}", 1) for i in range(18)]
    first = batch(("0", "0", "P2P", 1), ("487", "10003", "Group", 1), *fillers)
    state = State().apply("s", summarise(first, resolver, plan), None, 20)  # at the limit
    later = batch(
        ("0", "0", "P2P", 5),  # an existing series keeps counting
        ("0", "0", "Junk1", 2),  # a new call type: call_type folds, the code stays
        ("0", "0", "Junk2", 3),  # lands in the same folded series
        ("487", "10003", "Junk3", 4),  # a new value with a known code (headroom: 2 series)
        ("500", "1", "Junk4", 6),  # the headroom is used up: folds all the way
        ("0", "0", "Group", 7),  # known values, new combination: folds all the way
    )
    state = state.apply("s", summarise(later, resolver, plan), None, 20)
    assert len(state.series) == 20 + 2 + 2

    def category(code: str, subcode: str) -> str:
        return resolver.resolve(code, subcode, None, Domain.CALL_END).category

    series = {key: v for (_s, key), v in state.series.items()}
    assert series[(CALL_SUMMARY.state_key, "0", "0", category("0", "0"), ("P2P",))] == 6
    assert series[(CALL_SUMMARY.state_key, "0", "0", category("0", "0"), (OTHER,))] == 5
    assert series[(CALL_SUMMARY.state_key, "487", "10003", category("487", "10003"), (OTHER,))] == 4
    assert series[(CALL_SUMMARY.state_key, OTHER, OTHER, category("500", "1"), (OTHER,))] == 6
    assert series[(CALL_SUMMARY.state_key, OTHER, OTHER, category("0", "0"), (OTHER,))] == 7
    assert state.folded_labels == {
        (CALL_SUMMARY.state_key, "call_type"): 2 + 3 + 4 + 6 + 7,
        (CALL_SUMMARY.state_key, "code"): 6 + 7,
        (CALL_SUMMARY.state_key, "subcode"): 6 + 7,
    }
    assert state.folded == 2 + 3 + 4 + 6 + 7  # records folded, each once


def test_a_label_value_too_long_to_export_is_other_even_below_the_limit() -> None:
    # The series count alone does not bound a scrape: 2000 series of a 500 KB call type would.
    resolver = Resolver(load_catalog())
    plan = LabelPlan(extra_labels=("call_type",))
    huge = "x" * 500_000
    observations = [
        Observation("0", "0", None, (("call_type", huge + str(i)),), 1) for i in range(3)
    ]
    observations.append(Observation("0", "0", None, (("call_type", "x" * 256),), 1))
    state = State().apply(
        "s", summarise(Batch({CALL_SUMMARY: observations}), resolver, plan), None, 2000
    )
    success = resolver.resolve("0", "0", None, Domain.CALL_END).category
    assert {key: v for (_s, key), v in state.series.items()} == {
        (CALL_SUMMARY.state_key, "0", "0", success, (OTHER,)): 3,
        (CALL_SUMMARY.state_key, "0", "0", success, ("x" * 256,)): 1,  # at the length limit: kept
    }
    assert state.folded_labels == {(CALL_SUMMARY.state_key, "call_type"): 3}


def test_the_folding_counter_is_exported_by_family_and_label_from_zero() -> None:
    plan = LabelPlan(extra_labels=("call_type",))
    state = State(folded_labels={(CALL_SUMMARY.state_key, "call_type"): 3})
    families = {f.name: f for f in self_families(state, {}, 10, 0.0, plan=plan)}
    folded = families["acs_exporter_folded_records"]
    assert folded.label_names == ("family", "label")
    assert dict(folded.samples) == {
        ("acs_call_ends_total", "code"): 0.0,
        ("acs_call_ends_total", "subcode"): 0.0,
        ("acs_call_ends_total", "call_type"): 3.0,
        ("acs_call_automation_media_results_total", "code"): 0.0,
        ("acs_call_automation_media_results_total", "subcode"): 0.0,
        ("acs_call_automation_media_results_total", "operation"): 0.0,
        # The platform-metric families (azure_metrics) fold like every other.
        **{
            ("acs_call_automation_events_total", label): 0.0
            for label in ("code", "subcode", "event_type", "resource")
        },
        **{
            ("acs_call_automation_api_requests_total", label): 0.0
            for label in ("code", "subcode", "operation", "status_class", "resource")
        },
    }


def test_a_checkpoint_from_before_label_folding_keeps_its_folded_pairs(tmp_path: Path) -> None:
    plan = LabelPlan()
    data = State().to_data(plan)
    data["series"] = [
        {
            "source": "s",
            "family": CALL_SUMMARY.state_key,
            "code": OTHER,
            "subcode": OTHER,
            "category": "Unknown",
            "labels": {},
            "value": 4,
        },
        {
            "source": "s",
            "family": MEDIA_SUMMARY.state_key,
            "code": OTHER,
            "subcode": OTHER,
            "category": "Success",
            "labels": {"operation": "Play"},
            "value": 2,
        },
    ]
    data["folded"] = 6
    del data["folded_labels"]
    state = State.from_data(data, plan)
    assert state.folded == 6
    assert state.folded_labels == {
        (CALL_SUMMARY.state_key, "code"): 4,
        (CALL_SUMMARY.state_key, "subcode"): 4,
        (MEDIA_SUMMARY.state_key, "code"): 2,
        (MEDIA_SUMMARY.state_key, "subcode"): 2,
    }


# -- a real daemon ----------------------------------------------------------------------------


def test_the_daemon_bounds_a_hundred_thousand_call_types_from_a_files_source(
    tmp_path: Path,
) -> None:
    resolver = Resolver(load_catalog())
    category = categories_of(resolver, Domain.CALL_END)
    media_category = categories_of(resolver, Domain.CALL_AUTOMATION)
    records, media = 100_000, 30_000
    data = tmp_path / "calls.jsonl"
    expected: Counter[str] = Counter()
    expected_media: Counter[str] = Counter()
    with data.open("w") as f:
        for i in range(records):
            code, subcode = CODES[i % len(CODES)]
            expected[category[(code, subcode)]] += 1
            record = {
                "category": "CallSummary",
                "properties": {
                    "participantEndReason": code,
                    "participantEndSubCode": subcode,
                    "callType": f"type-{i}",
                },
            }
            f.write(json.dumps(record) + "\n")
        for i in range(media):  # distinct Call Automation operations: no configuration at all
            code, subcode = CODES[i % len(CODES)]
            expected_media[media_category[(code, subcode)]] += 1
            record = {
                "category": "CallAutomationMediaSummary",
                "properties": {
                    "resultCode": code,
                    "resultSubcode": subcode,
                    "operationName": f"Operation{i}",
                },
            }
            f.write(json.dumps(record) + "\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "log": {"format": "text"},
                "metrics": {"extra_labels": ["call_type"], "max_series": LIMIT},
                "state": {"path": str(tmp_path / "state")},
                "sources": [
                    {
                        "type": "files",
                        "paths": [str(data)],
                        "progress": False,
                        "poll_interval": "200ms",
                    }
                ],
            }
        )
    )
    running = start(["--config.file", str(config)], tmp_path)
    try:
        running.wait_ready(timeout=60)
        deadline = time.monotonic() + 120
        while True:
            text = running.metrics()
            read = samples(text, "acs_exporter_records_read_total")
            if read.get((("source", "files"),)) == records + media:
                break
            assert time.monotonic() < deadline, running.log()
            time.sleep(0.5)
    finally:
        assert running.stop() == 0, running.log()
    ends = samples(text, "acs_call_ends_total")
    media_results = samples(text, "acs_call_automation_media_results_total")
    assert len(ends) + len(media_results) <= BOUND
    assert len(text) < 200_000  # bytes of one scrape, whatever the data holds
    totals: Counter[str] = Counter()
    for labels, value in ends.items():
        totals[dict(labels)["category"]] += int(value)
    assert totals == expected
    media_totals: Counter[str] = Counter()
    for labels, value in media_results.items():
        media_totals[dict(labels)["category"]] += int(value)
    assert media_totals == expected_media
    folded = samples(text, "acs_exporter_folded_records_total")
    operation = (("family", "acs_call_automation_media_results_total"), ("label", "operation"))
    assert folded[operation] == sum(
        v for labels, v in media_results.items() if dict(labels)["operation"] == OTHER
    )
    assert folded[operation] >= media - LIMIT
    call_type = folded[(("family", "acs_call_ends_total"), ("label", "call_type"))]
    assert call_type == sum(v for labels, v in ends.items() if dict(labels)["call_type"] == OTHER)
    assert call_type >= records - LIMIT
    assert samples(text, "acs_exporter_series")[()] == len(ends) + len(media_results)
    assert (tmp_path / "state").stat().st_size < 200_000
    assert "cardinality guard reached" in running.log()
