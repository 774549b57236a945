"""(1) Records through catalog resolution and aggregation per second.

A raw-mode batch (one observation per record, n=1, as the files source and raw Log Analytics
queries produce) of 1,000,000 records over a realistic spread of distinct end reasons and
dimensions, through `summarise` (count, resolve per distinct key, aggregate) and `State.apply`
(cardinality guard, cumulative counts). Median of several runs with a warm resolver cache, as in
the running daemon; the first (cold) run is reported too.
"""

from __future__ import annotations

import random
import statistics
import time

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, LabelPlan
from acs_exporter.pipeline.aggregate import Resolver, summarise
from acs_exporter.pipeline.state import State
from acs_exporter.sources.base import Batch, Observation
from bench.result import Result

RECORDS = 1_000_000
RUNS = 5
TARGET = 500_000


def make_batch(records: int = RECORDS, seed: int = 1) -> Batch:
    rng = random.Random(seed)
    catalog = load_catalog()
    pairs = [
        (str(e.code), str(e.subcode))
        for e in catalog.entries
        if e.code is not None and e.subcode is not None
    ] or [("0", "0")]
    pairs += [("0", "0")] * 50 + [("487", "10003")] * 5 + [("999", "12345"), ("", "x")]
    dims = [
        (("call_type", c), ("endpoint_type", e), ("participant_type", p))
        for c in ("P2P", "Group")
        for e in ("VoIP", "PSTN", "Teams")
        for p in ("ACS", "Teams")
    ]
    # Build each record as its own tuple (as a parser would), sharing the interned strings.
    keys = [(*rng.choice(pairs), rng.choice(dims)) for _ in range(2_000)]
    calls = [
        Observation(code, subcode, None, dim) for code, subcode, dim in rng.choices(keys, k=records)
    ]
    return Batch({CALL_SUMMARY: calls})


def run() -> list[Result]:
    batch = make_batch()
    resolver = Resolver(load_catalog())
    plan = LabelPlan(extra_labels=("call_type", "endpoint_type"))
    timings = []
    for _ in range(RUNS + 1):
        started = time.perf_counter()
        delta = summarise(batch, resolver, plan)
        State().apply("bench", delta, None, 2000)
        timings.append(time.perf_counter() - started)
    cold, warm = timings[0], statistics.median(timings[1:])
    rate = RECORDS / warm
    return [
        Result(
            "pipeline",
            f"records/s, resolve+aggregate ({RECORDS:,} raw records, median of {RUNS})",
            f"{rate:,.0f}",
            f">= {TARGET:,}",
            rate >= TARGET,
        ),
        Result("pipeline", "records/s, first run (cold resolver cache)", f"{RECORDS / cold:,.0f}"),
    ]
