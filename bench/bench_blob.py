"""(HA) What one commit of the azure_blob checkpoint costs: bytes uploaded, write operations and
CPU, and what a standby downloads to follow it, before (the whole state PUT every commit, as
the release before the blob journal did) and after (one delta block: stage + commit list).

The real BlobCheckpoint and SDK against Azurite (tools/azurite), bytes counted at the SDK's HTTP
transport (tests/support/blob_traffic.py). A commit counts into 5 existing series of N and
moves the cursor, as bench_poll's "change" poll. CPU is this process's CPU time (Azurite's is
not in it), median of the commits measured.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

from azure.core import MatchConditions
from azure.storage.blob import BlobClient, BlobLeaseClient, BlobServiceClient
from tests.support.azurite import AZURITE_BIN, Azurite
from tests.support.blob_traffic import CountingTransport, Traffic

from acs_exporter.catalog import Catalog, load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, LabelPlan
from acs_exporter.pipeline.aggregate import Delta
from acs_exporter.pipeline.blob_store import BlobCheckpoint
from acs_exporter.pipeline.checkpoint import encode
from acs_exporter.pipeline.daemon import Exporter
from acs_exporter.pipeline.state import Change, State
from bench.result import Result

SIZES = (1_000, 10_000, 50_000)
COMMITS = 30  # after (delta) commits measured per size
WHOLE_PUTS = 5  # before (whole PUT) commits measured per size: each uploads the whole state
CPU_TARGET_MS = 20.0  # the #12 poll target, at 50k series
CONTAINER = "bench"
FAMILY = CALL_SUMMARY.state_key


def _seeded(series: int) -> State:
    keys = {(FAMILY, str(100_000 + i), "0", "Success", ()): 1 for i in range(series)}
    return State().apply("src", Delta(series=Counter(keys), records_read=series), 0, series + 10)


def _five_changed(state: State, i: int) -> tuple[State, Change]:
    keys = {(FAMILY, str(100_000 + k * 97), "0", "Success", ()): i for k in range(5)}
    return state.applied("src", Delta(series=Counter(keys), records_read=5 * i), i, 10_000_000)


class _Measured:
    def __init__(self) -> None:
        self.cpu_ms: list[float] = []
        self.sent: list[int] = []
        self.writes: list[int] = []
        self.received: list[int] = []
        self.follow_cpu_ms: list[float] = []

    def time(self, traffic: Traffic, step: Callable[[], object]) -> None:
        mark, started = traffic.mark(), time.process_time()
        step()
        self.cpu_ms.append((time.process_time() - started) * 1000)
        self.sent.append(traffic.sent_since(mark))
        self.writes.append(len(traffic.writes_since(mark)))

    def follow(self, traffic: Traffic, standby: BlobCheckpoint, exporter: Exporter) -> None:
        """One refresh of a standby and what its exporter then serves, as leadership.py
        does it: only the new batches applied when that is what was read, else the whole
        state adopted (and its families rebuilt)."""
        mark, started = traffic.mark(), time.process_time()
        newer = standby.refresh()
        assert newer is not None
        increments = standby.increments(newer)
        if increments is None:
            exporter.adopt(newer)
        else:
            exporter.follow(increments[0], newer, increments[1])
        self.follow_cpu_ms.append((time.process_time() - started) * 1000)
        self.received.append(traffic.received_since(mark))


def _client(azurite: Azurite, name: str, traffic: Traffic) -> BlobClient:
    return BlobClient.from_connection_string(
        azurite.connection_string, CONTAINER, name, transport=CountingTransport(traffic)
    )


def _exporter(standby: BlobCheckpoint, catalog: Catalog) -> Exporter:
    """A standby's exporter, serving what `standby` loads."""
    return Exporter(catalog=catalog, source_names=["src"], checkpoint=standby, max_series=10**6)


def _pair(azurite: Azurite, name: str) -> tuple[BlobCheckpoint, BlobCheckpoint, Traffic, Traffic]:
    """A leader (leading) and a standby of blob `name`, each with its own traffic count."""
    ours, theirs = Traffic(), Traffic()
    leader = BlobCheckpoint(_client(azurite, name, ours), LabelPlan(), 60)
    standby = BlobCheckpoint(_client(azurite, name, theirs), LabelPlan(), 60)
    leader.lock()
    assert leader.try_acquire()
    leader.load()
    leader.begin_term()
    return leader, standby, ours, theirs


def _after(azurite: Azurite, series: int, catalog: Catalog) -> _Measured:
    leader, standby, ours, theirs = _pair(azurite, f"after-{series}")
    state = _seeded(series)
    leader.compact(state)  # the first commit of a term on a plain blob writes the snapshot
    exporter = _exporter(standby, catalog)  # loads the snapshot
    measured = _Measured()
    for i in range(1, COMMITS + 1):
        state, change = _five_changed(state, i)
        measured.time(ours, partial(leader.commit, state, change))
        measured.follow(theirs, standby, exporter)
    return measured


def _generation(azurite: Azurite, series: int) -> tuple[int, float, int]:
    """A whole generation: commits from a snapshot to the next (the compaction included).
    Returns (commits, mean bytes up per commit, bytes up by the last delta before it)."""
    leader, _, ours, _ = _pair(azurite, f"generation-{series}")
    state = _seeded(series)
    leader.compact(state)
    snapshot = len(encode(state, LabelPlan()))
    mark, sent, i = ours.mark(), [0], 0
    while sent[-1] < snapshot // 2:  # until the commit that wrote a snapshot
        i += 1
        state, change = _five_changed(state, i)
        before = ours.mark()
        leader.commit(state, change)
        sent.append(ours.sent_since(before))
    return i, ours.sent_since(mark) / i, sent[-2]


def _before(azurite: Azurite, series: int, catalog: Catalog) -> _Measured:
    """The previous release's commit: encode the whole state, one conditional PUT with the
    lease; the standby downloads it whole."""
    ours, theirs = Traffic(), Traffic()
    name, state, plan = f"before-{series}", _seeded(series), LabelPlan()
    client = _client(azurite, name, ours)
    etag = client.upload_blob(encode(state, plan))["etag"]
    lease = BlobLeaseClient(client)
    lease.acquire(lease_duration=60)
    standby = BlobCheckpoint(_client(azurite, name, theirs), LabelPlan(), 60)
    exporter = _exporter(standby, catalog)  # loads the blob
    measured = _Measured()

    def put(state: State) -> None:
        nonlocal etag
        result = client.upload_blob(
            encode(state, plan),
            overwrite=True,
            lease=lease,
            etag=etag,
            match_condition=MatchConditions.IfNotModified,
        )
        etag = result["etag"]

    for i in range(1, WHOLE_PUTS + 1):
        state, _ = _five_changed(state, i)
        measured.time(ours, partial(put, state))
        measured.follow(theirs, standby, exporter)
    return measured


def _median(values: list[float] | list[int]) -> float:
    return float(statistics.median(values))


def run() -> list[Result]:
    if not AZURITE_BIN.exists():
        return [Result("blob", "bytes per commit", "azurite missing", "", False)]
    catalog = load_catalog()
    with tempfile.TemporaryDirectory(prefix="bench-blob-") as tmp:
        azurite = Azurite(Path(tmp) / "azurite").start()
        try:
            BlobServiceClient.from_connection_string(azurite.connection_string).create_container(
                CONTAINER
            )
            figures = {
                n: (_before(azurite, n, catalog), _after(azurite, n, catalog)) for n in SIZES
            }
            generations = {n: _generation(azurite, n) for n in SIZES}
        finally:
            azurite.stop()
    return [*_rows(figures), *_generation_rows(generations)]


def _generation_rows(generations: dict[int, tuple[int, float, int]]) -> list[Result]:
    return [
        Result(
            "blob",
            f"  {n:>6,} series, a generation: commits; mean bytes up per commit (compaction "
            "in); bytes up by its last delta",
            f"{commits}; {mean:,.0f}; {last:,}",
        )
        for n, (commits, mean, last) in generations.items()
    ]


def _rows(figures: dict[int, tuple[_Measured, _Measured]]) -> list[Result]:
    rows = []
    for n, (before, after) in figures.items():
        rows.append(
            Result(
                "blob",
                f"  {n:>6,} series, before / after: bytes up, writes, CPU ms; standby bytes "
                "down, CPU ms (its exporter's update in)",
                f"{_median(before.sent):,.0f} / {_median(after.sent):,.0f}, "
                f"{_median(before.writes):g} / {_median(after.writes):g}, "
                f"{_median(before.cpu_ms):.1f} / {_median(after.cpu_ms):.1f}; "
                f"{_median(before.received):,.0f} / {_median(after.received):,.0f}, "
                f"{_median(before.follow_cpu_ms):.1f} / {_median(after.follow_cpu_ms):.1f}",
            )
        )
    small, large = figures[SIZES[0]][1], figures[SIZES[-1]][1]
    up = _median(large.sent) / _median(small.sent)
    down = _median(large.received) / _median(small.received)
    cpu = _median(large.cpu_ms)
    return [
        *rows,
        Result(
            "blob",
            f"bytes uploaded per commit, {SIZES[-1]:,} vs {SIZES[0]:,} series (x)",
            f"{up:.2f}",
            "<= 2",
            up <= 2,
        ),
        Result(
            "blob",
            f"bytes a standby downloads per commit, {SIZES[-1]:,} vs {SIZES[0]:,} series (x)",
            f"{down:.2f}",
            "<= 2",
            down <= 2,
        ),
        Result(
            "blob",
            f"CPU per commit, {SIZES[-1]:,} series, 5 changed (ms, median of {COMMITS})",
            f"{cpu:.2f}",
            f"<= {CPU_TARGET_MS:g}",
            cpu <= CPU_TARGET_MS,
        ),
    ]
