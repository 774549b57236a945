"""(7) Cost of a poll that changes a handful of series, and memory per series, by size.

The real `Exporter` on a real checkpoint (snapshot + journal) in a temporary directory, loaded
at start as the daemon does. A "change" poll counts into 5 existing series and moves the
cursor (one journal record, fdatasynced); an "idle" poll brings nothing new (no write). CPU is
the process's CPU time (`time.process_time`), median of RUNS polls: the disk's fsync wait is
not CPU. Bytes written are what the checkpoint files grew by per change poll.

Memory per series: a fresh process per size loads the checkpoint, publishes the snapshot and
scrapes it through the server's scrape cache (`RenderedSnapshots`) gzipped and uncompressed, so
the cache holds both the text and its gzip members (the most it keeps for one format), and
reports its RSS (VmRSS) growth over the same process with an empty checkpoint, per series.

Series shape: (code, subcode) pairs x 100 label combinations (2 call types x 5 endpoint types
x 10 participant types), so 50k series carry 500 distinct end reasons, as a busy resource would.
"""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, LabelPlan
from acs_exporter.exposition.rendered import RenderedSnapshots
from acs_exporter.exposition.trim import release_freed_memory
from acs_exporter.pipeline.aggregate import Resolver, summarise
from acs_exporter.pipeline.checkpoint import Checkpoint
from acs_exporter.pipeline.daemon import Exporter
from acs_exporter.pipeline.state import State
from acs_exporter.sources.base import Batch, Observation
from bench.result import Result

SIZES = (1_000, 10_000, 50_000, 100_000)
AT = 50_000  # the size the targets are stated at
CHANGED = 5
RUNS = 30
TARGET_MS = 20.0
TARGET_BYTES = 10_000
TARGET_BYTES_PER_SERIES = 1024
PLAN = LabelPlan(extra_labels=("call_type", "endpoint_type", "participant_type"))
CALL_TYPES = ("P2P", "Group")
ENDPOINTS = ("VoIP", "PSTN", "Teams", "Bot", "Unknown")
PARTICIPANTS = tuple(f"type{i}" for i in range(10))
CODES = ("0", "480", "487", "490", "500", "503")


def observation(i: int, n: int) -> Observation:
    pair, combination = divmod(i, 100)
    dims = (
        ("call_type", CALL_TYPES[combination % 2]),
        ("endpoint_type", ENDPOINTS[combination // 2 % 5]),
        ("participant_type", PARTICIPANTS[combination // 10]),
    )
    return Observation(CODES[pair % 6], str(10_000 + pair), None, dims, n)


def seed(path: Path, series: int) -> None:
    """A checkpoint snapshot holding `series` call-end series."""
    batch = Batch({CALL_SUMMARY: [observation(i, 1 + i % 7) for i in range(series)]})
    delta = summarise(batch, Resolver(load_catalog()), PLAN)
    Checkpoint(path, PLAN).compact(State().apply("bench", delta, 0, series * 2))


def started(path: Path, series: int) -> Exporter:
    exporter = Exporter(
        catalog=load_catalog(),
        source_names=["bench"],
        plan=PLAN,
        max_series=series * 2,
        checkpoint=Checkpoint(path, PLAN),
    )
    exporter.complete_poll("bench", change_batch(series, 1), 0.01)  # the start's compaction
    return exporter


def change_batch(series: int, cursor: int) -> Batch:
    step = series // CHANGED
    observations = [observation(k * step + cursor % step, 1) for k in range(CHANGED)]
    return Batch({CALL_SUMMARY: observations}, cursor=cursor, watermark=datetime.now(UTC))


def _cpu_ms(exporter: Exporter, batches: list[Batch]) -> float:
    timings = []
    for batch in batches:
        started_at = time.process_time()
        exporter.complete_poll("bench", batch, 0.01)
        timings.append((time.process_time() - started_at) * 1000)
    return statistics.median(timings)


def _written(path: Path) -> int:
    return sum(
        p.stat().st_size for p in (path, path.with_name(path.name + ".journal")) if p.exists()
    )


def measure_polls(directory: Path, series: int) -> dict[str, float]:
    """CPU per change and idle poll, and checkpoint bytes written per change poll."""
    path = directory / f"state-{series}.ckpt"
    seed(path, series)
    exporter = started(path, series)
    before = _written(path)
    change = _cpu_ms(exporter, [change_batch(series, c) for c in range(2, RUNS + 2)])
    written = (_written(path) - before) / RUNS
    idle = _cpu_ms(exporter, [Batch({}, cursor=RUNS + 1) for _ in range(RUNS)])
    checkpoint = Checkpoint(directory / f"compact-{series}.ckpt", PLAN)
    compact_at = time.process_time()
    checkpoint.compact(exporter.state)
    compact = (time.process_time() - compact_at) * 1000
    exporter.close()
    return {
        "change_ms": change,
        "idle_ms": idle,
        "bytes": written,
        "compact_ms": compact,
        "snapshot": path.stat().st_size,
    }


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def rss_child(path: Path, series: int) -> None:
    """In a fresh process: RSS after loading `path`, publishing the snapshot and scraping it
    through the server's scrape cache (`RenderedSnapshots`, what /metrics keeps between
    scrapes) gzipped, as Prometheus asks, then uncompressed, so that the cache holds both the
    text and the gzip members; as JSON on stdout."""
    exporter = Exporter(
        catalog=load_catalog(),
        source_names=["bench"],
        plan=PLAN,
        max_series=max(series, 1) * 2,
        checkpoint=Checkpoint(path, PLAN) if series else None,
    )
    gc.collect()
    # What loading the checkpoint freed, given back as the first render will (trim.py), so
    # that this figure is what the state and the snapshot hold.
    release_freed_memory()
    unrendered = _rss_kb()
    rendered = RenderedSnapshots(exporter.snapshot)
    # Each scrape's parts are sent as they are (http.py), not joined: what stays is the cache.
    sizes = [sum(map(len, rendered.body("text", compress))) for compress in (True, False)]
    assert rendered.renders == 1
    assert rendered.compressions == 1
    assert sizes[1] > sizes[0] > 0
    gc.collect()
    print(json.dumps({"rss_kb": _rss_kb(), "unrendered_kb": unrendered}))


def _child_rss_kb(path: Path, series: int) -> tuple[int, int]:
    """(RSS with the snapshot rendered, RSS before rendering) of a fresh process, kB."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_poll", "rss", str(path), str(series)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    figures = json.loads(done.stdout)
    return int(figures["rss_kb"]), int(figures["unrendered_kb"])


def measure_rss(directory: Path) -> dict[int, tuple[float, float]]:
    """RSS growth per series (bytes) by size, over an empty exporter in the same setup: with
    the rendered bytes, and of the state and snapshot alone."""
    empty = _child_rss_kb(directory / "none.ckpt", 0)
    per_series = {}
    for series in SIZES:
        full, unrendered = _child_rss_kb(directory / f"state-{series}.ckpt", series)
        per_series[series] = (
            (full - empty[0]) * 1024 / series,
            (unrendered - empty[1]) * 1024 / series,
        )
    return per_series


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        polls = {series: measure_polls(directory, series) for series in SIZES}
        rss = measure_rss(directory)
    at = polls[AT]
    ratio = polls[SIZES[-1]]["change_ms"] / polls[SIZES[0]]["change_ms"]
    rows = [
        Result(
            "poll",
            f"CPU per poll, {AT:,} series, {CHANGED} changed (ms, median of {RUNS})",
            f"{at['change_ms']:.2f}",
            f"<= {TARGET_MS:.0f}",
            at["change_ms"] <= TARGET_MS,
        ),
        Result(
            "poll",
            f"  vs an idle poll at {AT:,} series ({at['idle_ms']:.2f} ms), same run (x)",
            f"{at['change_ms'] / at['idle_ms']:.1f}",
        ),
        Result(
            "poll",
            f"checkpoint bytes written per such poll (snapshot {at['snapshot'] / 1e6:.1f} MB)",
            f"{at['bytes']:,.0f}",
            f"< {TARGET_BYTES:,}",
            at["bytes"] < TARGET_BYTES,
        ),
        # Informational: two C-level copies per poll still grow with the series (the series
        # mapping in State.apply, the changed family's sample tuple), ~0.05 ms per 1k series.
        Result(
            "poll",
            f"CPU per {CHANGED}-series poll, {SIZES[-1]:,} vs {SIZES[0]:,} series (x)",
            f"{ratio:.2f}",
        ),
    ]
    for series in SIZES:
        p = polls[series]
        rows.append(
            Result(
                "poll",
                f"  {series:>7,} series: change / idle poll CPU ms; compaction CPU ms",
                f"{p['change_ms']:.2f} / {p['idle_ms']:.2f}; {p['compact_ms']:.0f}",
            )
        )
    for series in SIZES:
        target = series >= AT
        full, unrendered = rss[series]
        rows.append(
            Result(
                "poll",
                f"RSS per series at {series:,}: state+snapshot+rendered (state+snapshot), bytes",
                f"{full:.0f} ({unrendered:.0f})",
                f"<= {TARGET_BYTES_PER_SERIES}" if target else "",
                full <= TARGET_BYTES_PER_SERIES if target else None,
            )
        )
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["rss"]:
        rss_child(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        for row in run():
            print(*row.cells(), sep="  |  ")
