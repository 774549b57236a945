"""The simulator: determinism, restarts, scenario shape, record_file, bounded batches."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

import acs_exporter
from acs_exporter.catalog import Catalog, Domain, load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, EXTRA_LABELS, MEDIA_SUMMARY
from acs_exporter.pipeline.aggregate import Resolver
from acs_exporter.sources.base import Batch, Cursor, Observation, SourceError
from acs_exporter.sources.simulator.cursor import CURSOR_FORMAT
from acs_exporter.sources.simulator.settings import SimulatorSettings
from acs_exporter.sources.simulator.source import MAX_RECORDS_PER_FETCH, Simulator

START = 1_700_000_000.0
ALLOWED_DIMENSIONS = set(EXTRA_LABELS)


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def make(catalog: Catalog, clock: FakeClock, **settings: object) -> Simulator:
    return Simulator(SimulatorSettings.model_validate(settings), catalog, clock=clock)


def totals(batches: list[Batch]) -> Counter[Observation]:
    out: Counter[Observation] = Counter()
    for batch in batches:
        for obs in batch.of(CALL_SUMMARY):
            out[obs._replace(n=1)] += obs.n
    return out


def run(
    sim: Simulator, clock: FakeClock, steps: list[float], cursor: Cursor = None
) -> tuple[list[Batch], Cursor]:
    """Advance the clock by each step and fetch; returns the batches and the last cursor."""
    batches = [sim.fetch(cursor)]
    cursor = batches[-1].cursor
    for step in steps:
        clock.now += step
        batch = sim.fetch(cursor)
        batches.append(batch)
        cursor = batch.cursor
    return batches, cursor


def is_server_error(obs: Observation) -> bool:
    # The category the service logged; when it left it empty, the code class (5xx).
    if obs.service_category:
        return obs.service_category == "UnexpectedServerError"
    return isinstance(obs.code, str) and obs.code.startswith("5")


def test_first_fetch_starts_now_and_produces_nothing(catalog: Catalog) -> None:
    clock = FakeClock()
    batch = make(catalog, clock, seed=1).fetch(None)
    assert batch.of(CALL_SUMMARY) == []
    assert batch.caught_up
    assert batch.watermark == datetime.fromtimestamp(START, UTC)


def test_rate_and_time_scale(catalog: Catalog) -> None:
    clock = FakeClock()
    sim = make(catalog, clock, seed=3, calls_per_second=5, time_scale=60)
    batches, _ = run(sim, clock, [10.0])
    # 10 real seconds at 60x are 600 simulated seconds at 5 call ends each.
    assert sum(totals(batches).values()) == 3000
    assert batches[-1].watermark == datetime.fromtimestamp(START + 600, UTC)


def test_fractional_rate_averages_out(catalog: Catalog) -> None:
    clock = FakeClock()
    sim = make(catalog, clock, seed=3, calls_per_second=0.5)
    batches, _ = run(sim, clock, [2000.0])
    assert 900 <= sum(totals(batches).values()) <= 1100


def test_same_seed_same_records_whatever_the_polling(catalog: Catalog) -> None:
    clock_a, clock_b = FakeClock(), FakeClock()
    a = make(catalog, clock_a, seed=42, time_scale=10)
    b = make(catalog, clock_b, seed=42, time_scale=10)
    batches_a, _ = run(a, clock_a, [100.0])
    batches_b, _ = run(b, clock_b, [0.3, 7.0, 12.5, 0.01, 30.19, 50.0])
    assert sum(totals(batches_a).values()) == 5000
    assert totals(batches_a) == totals(batches_b)


def test_different_seeds_differ(catalog: Catalog) -> None:
    clock_a, clock_b = FakeClock(), FakeClock()
    batches_a, _ = run(make(catalog, clock_a, seed=1), clock_a, [1000.0])
    batches_b, _ = run(make(catalog, clock_b, seed=2), clock_b, [1000.0])
    assert totals(batches_a) != totals(batches_b)


def test_restart_from_cursor_neither_repeats_nor_skips(catalog: Catalog) -> None:
    # One simulator running 300 s straight ...
    clock = FakeClock()
    reference, _ = run(make(catalog, clock, seed=9), clock, [300.0])
    # ... equals one running 120 s, persisting its cursor, then a new process resuming from it
    # after a 60 s downtime and running until the same wall time (it catches up the downtime).
    clock = FakeClock()
    first, cursor = run(make(catalog, clock, seed=9), clock, [60.0, 60.0])
    clock.now += 60.0
    resumed = make(catalog, clock, seed=9)
    second, _ = run(resumed, clock, [120.0], cursor=cursor)
    assert totals(first + second) == totals(reference)


def test_random_seed_is_kept_in_the_cursor(catalog: Catalog) -> None:
    clock = FakeClock()
    sim = make(catalog, clock)
    batches, cursor = run(sim, clock, [50.0])
    assert isinstance(cursor, dict)
    seed = saved(cursor)["seed"]
    assert isinstance(seed, int)
    # A second simulator without a configured seed continues the same sequence.
    clock_2 = FakeClock(clock.now)
    more, _ = run(make(catalog, clock_2), clock_2, [50.0], cursor=cursor)
    clock_3 = FakeClock()
    reference, _ = run(make(catalog, clock_3, seed=seed), clock_3, [100.0])
    assert totals(batches + more) == totals(reference)


def saved(cursor: Cursor) -> dict[str, Cursor]:
    """The position inside a simulator cursor's envelope."""
    position = CURSOR_FORMAT.unwrap(cursor)
    assert isinstance(position, dict), cursor
    return position


def test_first_start_is_at_the_wall_clock(catalog: Catalog) -> None:
    clock = FakeClock()
    batch = make(catalog, clock, seed=1).fetch(None)
    assert batch.of(CALL_SUMMARY) == []
    assert saved(batch.cursor)["position"] == int(START)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        7,
        {"version": 99},
        {"version": 1, "seed": "x"},
        {"kind": "simulator", "version": 2, "position": {}},
        {"kind": "log_analytics", "version": 1, "position": {}},
        {"kind": "simulator", "version": 1, "position": {"seed": 1}},
        {"kind": "simulator", "version": 1},
    ],
)
def test_unreadable_cursor_is_bad_cursor_not_a_fresh_start(
    catalog: Catalog, cursor: Cursor
) -> None:
    # A fresh start would count the simulated calls again, under a new origin.
    with pytest.raises(SourceError) as caught:
        make(catalog, FakeClock(), seed=1).fetch(cursor)
    assert caught.value.reason == "bad_cursor"
    assert "simulator cursor" in str(caught.value)


def test_cursor_of_the_previous_release_continues_exactly(catalog: Catalog) -> None:
    """A checkpoint saved by the release before the cursor envelope (`{"version": 1, ...}`,
    flat) continues where it stopped: nothing generated twice or skipped."""
    clock = FakeClock()
    reference, _ = run(make(catalog, clock, seed=9), clock, [300.0])
    clock = FakeClock()
    first, cursor = run(make(catalog, clock, seed=9), clock, [60.0, 60.0])
    legacy = {"version": 1, **saved(cursor)}  # what the previous release wrote
    clock.now += 60.0
    second, resumed = run(make(catalog, clock, seed=9), clock, [120.0], cursor=legacy)
    assert totals(first + second) == totals(reference)
    assert isinstance(resumed, dict)
    assert resumed["kind"] == "simulator"  # saved anew, wrapped


def test_time_scale_change_keeps_position(catalog: Catalog) -> None:
    clock = FakeClock()
    _, cursor = run(make(catalog, clock, seed=1, time_scale=1), clock, [100.0])
    assert isinstance(cursor, dict)
    position = saved(cursor)["position"]
    faster = make(catalog, clock, seed=1, time_scale=10)
    batch = faster.fetch(cursor)
    assert batch.of(CALL_SUMMARY) == []
    assert isinstance(batch.cursor, dict)
    assert saved(batch.cursor)["position"] == position
    clock.now += 10
    batch = faster.fetch(batch.cursor)
    assert sum(o.n for o in batch.of(CALL_SUMMARY)) == 500


def test_observations_are_aggregated_with_allowed_sorted_dimensions(catalog: Catalog) -> None:
    clock = FakeClock()
    batches, _ = run(make(catalog, clock, seed=5, time_scale=60), clock, [60.0])
    ends = batches[-1].of(CALL_SUMMARY)
    keys = [obs._replace(n=1) for obs in ends]
    assert len(keys) == len(set(keys)), "identical observations must be aggregated"
    assert any(obs.n > 1 for obs in ends)
    for obs in ends:
        names = [name for name, _ in obs.dimensions]
        assert names == sorted(names)
        assert set(names) <= ALLOWED_DIMENSIONS
        assert obs.dimensions[0][1] in {"P2P", "Group"}
        assert obs.dimensions[1][1] in {"VoIP", "PSTN", "Server", "BOT"}


def test_mix_looks_like_production(catalog: Catalog) -> None:
    clock = FakeClock()
    batches, _ = run(make(catalog, clock, seed=11, time_scale=100), clock, [400.0])
    counts = totals(batches)
    total = sum(counts.values())
    by_code: Counter[object] = Counter()
    for obs, n in counts.items():
        by_code[obs.code] += n
    assert by_code["0"] / total > 0.6  # mostly success
    for code in ("487", "603", "480", "408", "490", "410", "500", "503", "504"):
        assert by_code[code] > 0, code
    assert 0 < by_code["452"] + by_code["701"] < total * 0.01  # unknown codes: a trickle
    junk = by_code[""] + by_code[None] + by_code["N/A"]
    assert 0 < junk < total * 0.005
    empty_category = sum(n for obs, n in counts.items() if not obs.service_category)
    assert 0.03 < empty_category / total < 0.08
    server = sum(n for obs, n in counts.items() if is_server_error(obs))
    assert 0.002 < server / total < 0.007


def test_server_error_spike_shape(catalog: Catalog) -> None:
    clock = FakeClock()
    sim = make(
        catalog,
        clock,
        seed=21,
        scenario="server-error-spike",
        calls_per_second=20,
        time_scale=60,
        spike_start=timedelta(minutes=10),
        spike_duration=timedelta(minutes=5),
        spike_server_error_share=0.3,
    )
    cursor: Cursor = sim.fetch(None).cursor
    phases: dict[str, list[Batch]] = {"before": [], "during": [], "after": []}
    # 10 real seconds per phase at 60x: 0-10 min, 10-15 min (two 5 s steps), 15-25 min.
    for phase, steps in (("before", [10.0]), ("during", [2.5, 2.5]), ("after", [10.0])):
        for step in steps:
            clock.now += step
            batch = sim.fetch(cursor)
            phases[phase].append(batch)
            cursor = batch.cursor
    share = {}
    for phase, batches in phases.items():
        counts = totals(batches)
        total = sum(counts.values())
        share[phase] = sum(n for obs, n in counts.items() if is_server_error(obs)) / total
    assert share["before"] < 0.01
    assert 0.27 < share["during"] < 0.33
    assert share["after"] < 0.01


def test_steady_never_spikes(catalog: Catalog) -> None:
    clock = FakeClock()
    sim = make(catalog, clock, seed=21, calls_per_second=20, time_scale=60)
    batches, _ = run(sim, clock, [5.0] * 6)
    for batch in batches[1:]:
        total = sum(o.n for o in batch.of(CALL_SUMMARY))
        server = sum(o.n for o in batch.of(CALL_SUMMARY) if is_server_error(o))
        assert server / total < 0.015


def test_catch_up_is_bounded(catalog: Catalog) -> None:
    clock = FakeClock()
    sim = make(catalog, clock, seed=1, calls_per_second=1000)
    cursor = sim.fetch(None).cursor
    clock.now += 250.0  # 250,000 call ends to generate
    seen = 0
    for _ in range(3):
        batch = sim.fetch(cursor)
        n = sum(o.n for o in batch.of(CALL_SUMMARY))
        assert n <= MAX_RECORDS_PER_FETCH
        seen += n
        cursor = batch.cursor
        if batch.caught_up:
            break
        assert batch.watermark is not None
        assert batch.watermark < datetime.fromtimestamp(clock.now, UTC)
    assert batch.caught_up
    assert seen == 250_000


def read_records(path: Path, table: str | None = None) -> Counter[tuple[object, ...]]:
    """The call ends (table None) or the media results recorded in `path`."""
    out: Counter[tuple[object, ...]] = Counter()
    for line in path.read_bytes().splitlines():
        record = orjson.loads(line)
        if record.pop("table", None) != table:
            continue
        assert set(record) == {"code", "subcode", "service_category", "dimensions", "n"}
        key = (
            record["code"],
            record["subcode"],
            record["service_category"],
            tuple(sorted(record["dimensions"].items())),
        )
        out[key] += record["n"]
    return out


def test_record_file_matches_what_was_returned(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "records.jsonl"
    clock = FakeClock()
    sim = make(catalog, clock, seed=4, time_scale=30, record_file=str(path))
    batches, _ = run(sim, clock, [3.0, 4.0])
    # A re-fetch from an older cursor (the pipeline failed to apply a batch) is not recorded
    # twice: the file holds each generated call end once.
    sim.fetch(batches[1].cursor)
    sim.close()
    expected = Counter(
        {
            (o.code, o.subcode, o.service_category, o.dimensions): n
            for o, n in totals(batches).items()
        }
    )
    assert read_records(path) == expected
    assert sum(expected.values()) == 7 * 30 * 5
    media = Counter(
        {
            (o.code, o.subcode, o.service_category, o.dimensions): n
            for o, n in media_totals(batches).items()
        }
    )
    assert media
    assert read_records(path, "ACSCallAutomationMediaSummary") == media


def test_unwritable_record_file_fails_the_fetch(catalog: Catalog, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    clock = FakeClock()
    sim = make(catalog, clock, seed=4, record_file=str(blocker / "records.jsonl"))
    cursor = sim.fetch(None).cursor
    clock.now += 10
    with pytest.raises(SourceError) as caught:
        sim.fetch(cursor)
    assert caught.value.reason == "record_file"
    assert "records.jsonl" in str(caught.value)


def media_totals(batches: list[Batch]) -> Counter[Observation]:
    out: Counter[Observation] = Counter()
    for batch in batches:
        for obs in batch.of(MEDIA_SUMMARY):
            out[obs._replace(n=1)] += obs.n
    return out


def documented_call_end_pairs(catalog: Catalog) -> set[tuple[str, str]]:
    return {
        (str(e.code), str(e.subcode))
        for e in catalog.entries
        if e.domain is Domain.CALL_END and e.code is not None and e.subcode is not None
    }


def test_call_ends_use_call_end_codes_not_call_automation_subcodes(catalog: Catalog) -> None:
    """Server errors are the codes the call-end table documents (500, 503, 504); the
    Call Automation subcodes (9001, 9002, 8518, ...) never appear on a call end."""
    clock = FakeClock()
    batches, _ = run(make(catalog, clock, seed=11, time_scale=100), clock, [400.0])
    counts = totals(batches)
    automation_subcodes = {
        str(e.subcode)
        for e in catalog.entries
        if e.domain is Domain.GENERIC and e.code is None and e.subcode is not None
    } - {"0", "7000"}  # the generic 0 and 7000 are also documented call-end subcodes
    used = {(o.code, o.subcode) for o in counts}
    assert not {s for _, s in used} & automation_subcodes
    server = {(o.code, o.subcode) for o in counts if o.service_category == "UnexpectedServerError"}
    documented = documented_call_end_pairs(catalog)
    codes_alone = {
        str(e.code) for e in catalog.entries if e.domain is Domain.CALL_END and e.subcode is None
    }
    for code, subcode in server:
        # the documented 5xx codes with no detail, or a documented pair the service judged
        # differently (a disagreement)
        assert (code in codes_alone and subcode == "0") or (code, subcode) in documented, (
            code,
            subcode,
        )
    assert {c for c, _ in server} >= {"500", "503", "504"}


def test_mix_has_a_trickle_of_empty_subcodes_undocumented_pairs_and_disagreements(
    catalog: Catalog,
) -> None:
    clock = FakeClock()
    batches, _ = run(make(catalog, clock, seed=11, time_scale=100), clock, [400.0])
    counts = totals(batches)
    total = sum(counts.values())
    documented = documented_call_end_pairs(catalog)
    known_codes = {str(e.code) for e in catalog.entries if e.domain is Domain.CALL_END}

    def share(predicate: Callable[[Observation], bool]) -> float:
        return sum(n for obs, n in counts.items() if predicate(obs)) / total

    empty_subcode = share(lambda o: o.code in known_codes and o.subcode in ("", None))
    undocumented = share(
        lambda o: (
            o.code in known_codes
            and o.subcode not in ("", None, "0")
            and (o.code, o.subcode) not in documented
        )
    )
    resolver = Resolver(catalog)
    disagreeing = share(
        lambda o: (
            resolver.resolve(o.code, o.subcode, o.service_category, Domain.CALL_END).disagreement
            is not None
        )
    )
    for value in (empty_subcode, undocumented, disagreeing):
        assert 0.0002 < value < 0.005, (empty_subcode, undocumented, disagreeing)


def test_server_calls_produce_call_automation_media_results(catalog: Catalog) -> None:
    clock = FakeClock()
    batches, _ = run(make(catalog, clock, seed=11, time_scale=100), clock, [100.0])
    media = media_totals(batches)
    calls = totals(batches)
    server_calls = sum(
        n for o, n in calls.items() if dict(o.dimensions)["endpoint_type"] in ("Server", "BOT")
    )
    assert sum(media.values()) == 2 * server_calls
    operations = {dict(o.dimensions)["operation"] for o in media}
    assert operations == {"Play", "Recognize", "StartRecording"}
    assert all(o.service_category is None for o in media)
    # mostly successes, some failures the catalog files under Call Automation's 5xx
    resolver = Resolver(catalog)
    categories: Counter[str] = Counter()
    for obs, n in media.items():
        resolved = resolver.resolve(obs.code, obs.subcode, None, Domain.CALL_AUTOMATION)
        assert not resolved.malformed
        categories[resolved.category] += n
    assert categories["Success"] / sum(media.values()) > 0.7
    assert categories["UnexpectedServerError"] > 0


def test_media_results_do_not_depend_on_polling(catalog: Catalog) -> None:
    clock_a, clock_b = FakeClock(), FakeClock()
    batches_a, _ = run(make(catalog, clock_a, seed=5, time_scale=50), clock_a, [20.0])
    batches_b, _ = run(make(catalog, clock_b, seed=5, time_scale=50), clock_b, [5.0] * 4)
    assert media_totals(batches_a) == media_totals(batches_b)
    assert media_totals(batches_a)


def test_media_operations_stay_under_the_failure_alert_even_if_every_4xx_fails(
    catalog: Catalog,
) -> None:
    clock = FakeClock()
    batches, _ = run(make(catalog, clock, seed=3, time_scale=200), clock, [300.0])
    by_operation: dict[str, Counter[bool]] = {}
    for obs, n in media_totals(batches).items():
        failed = str(obs.code)[0] in "45"
        by_operation.setdefault(dict(obs.dimensions)["operation"], Counter())[failed] += n
    for operation, outcomes in by_operation.items():
        share = outcomes[True] / (outcomes[True] + outcomes[False])
        assert 0.03 < share < 0.095, (operation, share)


def test_ticks_mean_only_100_ns_the_simulator_counts_simulated_seconds() -> None:
    """ "ticks" is Kusto's 100 ns unit (sources/loganalytics/timestamps.py); the simulator's
    unit of time is the simulated second, and is called that, in its code and its docs."""
    package = Path(acs_exporter.__file__).parent
    words = re.compile(r"tick", re.IGNORECASE)
    for module in sorted((package / "sources" / "simulator").glob("*.py")):
        found = [
            n for n, line in enumerate(module.read_text().splitlines(), 1) if words.search(line)
        ]
        assert found == [], f"{module.name}: 'tick' on lines {found}"
    docs = (package.parents[1] / "docs" / "sources.md").read_text()
    simulator = docs[docs.index("## Simulator") : docs.index("## Files")]
    assert not words.search(simulator), "docs/sources.md, simulator section, says 'tick'"


def test_a_damaged_checkpoint_cursor_fails_polls_and_keeps_counts_and_cursor(
    catalog: Catalog, tmp_path: Path
) -> None:
    """Through the daemon: counted with a good cursor, then the checkpoint entry is damaged;
    each poll fails with bad_cursor, counts nothing, and leaves the saved cursor and counts as
    they were (not a fresh start)."""
    import time

    from acs_exporter.definitions.tables import LabelPlan
    from acs_exporter.exposition.text import render_text
    from acs_exporter.pipeline.aggregate import Delta
    from acs_exporter.pipeline.backoff import Backoff
    from acs_exporter.pipeline.checkpoint import Checkpoint
    from acs_exporter.pipeline.daemon import Exporter, poll_once
    from acs_exporter.pipeline.reasons import known_reasons
    from acs_exporter.pipeline.state import State

    path = tmp_path / "checkpoint.json"
    damaged: Cursor = {"kind": "simulator", "version": 1, "position": {"seed": "x"}}
    good = Checkpoint(path, LabelPlan())
    good.save(State().apply("simulator", Delta(records_read=5), damaged, 2000))
    clock = FakeClock()
    sim = make(catalog, clock, seed=3)
    exporter = Exporter(
        catalog=catalog,
        source_names=["simulator"],
        known_reasons={"simulator": known_reasons("simulator")},
        checkpoint=Checkpoint(path, LabelPlan()),
    )
    for _ in range(2):
        clock.now += 30
        assert poll_once(sim, exporter, Backoff(), time.monotonic()) is not None  # backoff
    assert exporter.cursor("simulator") == damaged
    saved = Checkpoint(path, LabelPlan()).load()
    assert saved.cursors["simulator"] == damaged
    assert saved.sources["simulator"].records_read == 5
    text = render_text(exporter.snapshot())
    assert 'acs_exporter_query_errors_total{reason="bad_cursor",source="simulator"} 2.0' in text
