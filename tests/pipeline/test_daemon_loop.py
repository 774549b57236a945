"""The poll loop and the Exporter: persist before publish, backoff, catch-up, shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, LabelPlan
from acs_exporter.exposition.collector import SnapshotCollector
from acs_exporter.pipeline.checkpoint import Checkpoint
from acs_exporter.pipeline.daemon import Backoff, Exporter, poll_loop, poll_once, run_until_stopped
from acs_exporter.sources.base import Batch, Cursor, Observation, SourceError


class FakeSource:
    """Plays a script of batches or errors; records the cursors it was asked for."""

    def __init__(self, name: str, script: list[Batch | Exception | Callable[[], Batch]]) -> None:
        self._name = name
        self.script = script
        self.cursors: list[Cursor] = []
        self.closed = False

    @property
    def name(self) -> str:
        return self._name

    def fetch(self, cursor: Cursor) -> Batch:
        self.cursors.append(cursor)
        step = self.script.pop(0) if self.script else Batch(cursor=cursor)
        if isinstance(step, Exception):
            raise step
        if callable(step):
            return step()
        return step

    def close(self) -> None:
        self.closed = True


def batch(n: int, cursor: int, caught_up: bool = True) -> Batch:
    return Batch(
        {CALL_SUMMARY: [Observation("500", "1", None, (), n)]},
        cursor=cursor,
        watermark=datetime.fromtimestamp(1_700_000_000 + cursor, UTC),
        caught_up=caught_up,
    )


def exporter(tmp_path: Path | None = None, names: tuple[str, ...] = ("fake",)) -> Exporter:
    checkpoint = Checkpoint(tmp_path / "state", LabelPlan()) if tmp_path else None
    return Exporter(catalog=load_catalog(), source_names=names, checkpoint=checkpoint)


def total(exp: Exporter) -> float:
    for family in exp.snapshot().families:
        if family.name == "acs_call_ends":
            return sum(float(v) for _, v in family.samples)  # type: ignore[arg-type]
    raise AssertionError("no acs_call_ends family")


def test_counts_are_published_only_after_they_are_persisted(tmp_path: Path) -> None:
    exp = exporter(tmp_path)
    exp.complete_poll("fake", batch(3, 1), 0.01)
    assert total(exp) == 3
    (tmp_path / "state").unlink()
    # Saving now fails: directories stand where the snapshot and its journal go (this batch
    # would be the journal's first record).
    (tmp_path / "state").mkdir()
    (tmp_path / "state.journal").mkdir()
    with pytest.raises(OSError):
        exp.complete_poll("fake", batch(4, 2), 0.01)
    assert total(exp) == 3  # not published
    assert exp.cursor("fake") == 1  # not advanced: the same window is fetched again


def test_failed_persist_is_a_failed_poll_and_the_batch_is_read_again(tmp_path: Path) -> None:
    exp = exporter(tmp_path)
    (tmp_path / "state").mkdir()  # saving fails: a directory stands where the file goes
    source = FakeSource("fake", [batch(4, 2), batch(4, 2)])
    backoff = Backoff(base=0.01)
    delay = poll_once(source, exp, backoff, time.monotonic())
    assert delay is not None
    assert delay > 0
    assert total(exp) == 0
    (problem,) = exp.readiness()
    assert problem.startswith(
        "source fake: last poll failed: checkpoint_write: could not persist the checkpoint; "
        "the batch is not counted and is read again: [Errno 21]"
    )
    (tmp_path / "state").rmdir()  # the disk recovers
    assert poll_once(source, exp, backoff, time.monotonic()) is None
    assert source.cursors == [None, None]  # the same window was read again
    assert total(exp) == 4


def test_not_caught_up_polls_again_at_once_then_waits_the_interval() -> None:
    exp = exporter()
    source = FakeSource("fake", [batch(1, 1, caught_up=False), batch(1, 2)])
    backoff = Backoff()
    assert poll_once(source, exp, backoff, time.monotonic()) == 0.0
    assert poll_once(source, exp, backoff, time.monotonic()) is None
    assert source.cursors == [None, 1]
    assert exp.readiness() == []


def test_source_errors_back_off_with_jitter_and_honour_retry_after() -> None:
    exp = exporter()
    source = FakeSource(
        "fake",
        [
            SourceError("throttled", "429 Too Many Requests", retry_after=42.0),
            SourceError("server_error", "503"),
            RuntimeError("bug in a source"),
            batch(2, 1),
        ],
    )
    backoff = Backoff(base=1.0, cap=8.0)
    delays = [poll_once(source, exp, backoff, time.monotonic()) for _ in range(4)]
    assert delays[0] == 42.0  # Retry-After beats the first (1 s) backoff step
    assert delays[1] is not None
    assert 1.0 <= delays[1] <= 2.0
    assert delays[2] is not None
    assert 2.0 <= delays[2] <= 4.0
    assert delays[3] is None
    assert backoff.failures == 0  # reset by the success
    assert total(exp) == 2  # the last good data is served; nothing of the failures counted
    text = generate_latest(registry(exp)).decode()
    assert 'acs_exporter_query_errors_total{reason="throttled",source="fake"} 1.0' in text
    assert 'acs_exporter_query_errors_total{reason="internal",source="fake"} 1.0' in text
    assert 'acs_exporter_polls_total{outcome="error",source="fake"} 3.0' in text
    assert 'acs_exporter_source_up{source="fake"} 1.0' in text


def test_backoff_is_capped() -> None:
    backoff = Backoff(base=1.0, cap=10.0)
    delays = [backoff.next_delay() for _ in range(40)]
    assert max(delays) <= 10.0
    assert min(delays[10:]) >= 5.0


def registry(exp: Exporter) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(exp.snapshot))
    return reg


def test_readiness_says_what_is_missing() -> None:
    exp = exporter(names=("a", "b"))
    assert exp.readiness() == [
        "source a: no successful poll yet",
        "source b: no successful poll yet",
    ]
    exp.fail_poll("a", "auth", "401 from Azure", 0.1)
    exp.complete_poll("b", batch(1, 1), 0.1)
    assert exp.readiness() == ["source a: last poll failed: auth: 401 from Azure"]


def test_several_sources_get_a_source_label_and_no_sample_has_a_timestamp() -> None:
    exp = exporter(names=("a", "b"))
    exp.complete_poll("a", batch(1, 1), 0.1)
    exp.complete_poll("b", batch(2, 1), 0.1)
    text = generate_latest(registry(exp)).decode()
    assert (
        'acs_call_ends_total{category="UnexpectedServerError",code="500",source="a",subcode="1"} '
        "1.0" in text
    )
    assert 'source="b",subcode="1"} 2.0' in text
    for family in text_string_to_metric_families(text):
        assert all(sample.timestamp is None for sample in family.samples), family.name


def test_cursor_lag_is_computed_at_scrape_time() -> None:
    exp = exporter()
    exp.complete_poll("fake", batch(1, 0), 0.1)
    now = [1_700_000_100.0]
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(exp.snapshot, clock=lambda: now[0]))
    assert 'acs_exporter_cursor_lag_seconds{source="fake"} 100.0' in generate_latest(reg).decode()
    now[0] += 50
    assert 'acs_exporter_cursor_lag_seconds{source="fake"} 150.0' in generate_latest(reg).decode()


class FakeServer:
    def __init__(self) -> None:
        self.events: list[str] = []

    def start(self) -> None:
        self.events.append("start")

    def shutdown(self) -> None:
        self.events.append("shutdown")

    def server_close(self) -> None:
        self.events.append("close")


def test_shutdown_finishes_the_running_poll_persists_and_closes(tmp_path: Path) -> None:
    exp = exporter(tmp_path)
    stop = threading.Event()
    entered = threading.Event()

    def slow() -> Batch:
        entered.set()
        stop.wait(5)  # SIGTERM arrives while the poll is running
        return batch(7, 9)

    source = FakeSource("fake", [slow])
    server = FakeServer()
    runner = threading.Thread(
        target=run_until_stopped,
        kwargs={
            "exporter": exp,
            "sources": [(source, 0.05)],
            "server": server,
            "pusher": None,
            "stop": stop,
        },
    )
    runner.start()
    assert entered.wait(5)
    stop.set()
    runner.join(15)
    assert not runner.is_alive()
    assert source.closed
    assert server.events == ["start", "shutdown", "close"]
    saved = Checkpoint(tmp_path / "state", LabelPlan()).load()
    assert saved.cursors == {"fake": 9}
    assert sum(saved.series.values()) == 7
    # After close, a straggling batch is refused rather than half-applied.
    exp.complete_poll("fake", batch(1, 10), 0.1)
    assert Checkpoint(tmp_path / "state", LabelPlan()).load() == saved


def test_poll_loop_stops_promptly() -> None:
    exp = exporter()
    stop = threading.Event()
    source = FakeSource("fake", [])
    thread = threading.Thread(target=poll_loop, args=(source, 3600.0, exp, stop))
    thread.start()
    time.sleep(0.1)
    stop.set()
    thread.join(2)
    assert not thread.is_alive()
    assert len(source.cursors) == 1


def test_source_up_is_zero_until_a_poll_succeeds() -> None:
    exp = exporter()
    text = generate_latest(registry(exp)).decode()
    assert 'acs_exporter_source_up{source="fake"} 0.0' in text
    exp.complete_poll("fake", batch(1, 1), 0.1)
    assert 'acs_exporter_source_up{source="fake"} 1.0' in generate_latest(registry(exp)).decode()


def samples(exp: Exporter) -> dict[tuple[str, ...], float]:
    for family in exp.snapshot().families:
        if family.name == "acs_call_ends":
            return {labels: float(v) for labels, v in family.samples}  # type: ignore[arg-type]
    raise AssertionError("no acs_call_ends family")


def test_a_removed_source_keeps_its_counts_across_a_restart(tmp_path: Path) -> None:
    first = exporter(tmp_path, names=("a", "b"))
    first.complete_poll("a", batch(3, 1), 0.01)
    first.complete_poll("b", batch(4, 1), 0.01)
    first.close()
    alone = exporter(tmp_path, names=("a",))  # b removed from the config
    # Without a source label the two sources' series share labels: summed, never emitted twice.
    assert samples(alone) == {("500", "1", "UnexpectedServerError"): 7.0}
    alone.complete_poll("a", batch(1, 2), 0.01)
    assert samples(alone) == {("500", "1", "UnexpectedServerError"): 8.0}
    alone.close()
    both = exporter(tmp_path, names=("a", "b"))  # b back: its cursor is where it was
    assert both.cursor("b") == 1
    assert samples(both) == {
        ("500", "1", "UnexpectedServerError", "a"): 4.0,
        ("500", "1", "UnexpectedServerError", "b"): 4.0,
    }


def test_the_cardinality_guard_folds_the_same_pairs_after_a_restart(tmp_path: Path) -> None:
    def make(max_series: int) -> Exporter:
        return Exporter(
            catalog=load_catalog(),
            source_names=("fake",),
            checkpoint=Checkpoint(tmp_path / "state", LabelPlan()),
            max_series=max_series,
        )

    def pair(code: str, sub: str, n: int, cursor: int) -> Batch:
        return Batch({CALL_SUMMARY: [Observation(code, sub, None, (), n)]}, cursor=cursor)

    first = make(1)
    first.complete_poll("fake", pair("500", "1", 2, 1), 0.01)
    first.complete_poll("fake", pair("503", "2", 3, 2), 0.01)  # past the limit: folded
    before = samples(first)
    first.close()
    again = make(1)
    assert samples(again) == before
    again.complete_poll("fake", pair("503", "2", 1, 3), 0.01)  # still folded, not its own
    after = samples(again)
    assert ("503", "2", "UnexpectedServerError") not in after
    assert after[("other", "other", "UnexpectedServerError")] == 4.0
    assert again.state.folded == 4
    again.close()
    # A higher limit gives new pairs their own series; nothing already served goes down.
    raised = make(10)
    raised.complete_poll("fake", pair("503", "2", 1, 4), 0.01)
    final = samples(raised)
    assert all(final[labels] >= value for labels, value in after.items())
    assert sum(final.values()) == sum(after.values()) + 1


def test_an_unexpected_error_applying_a_batch_is_a_failed_poll_not_a_dead_poller(
    tmp_path: Path,
) -> None:
    # A cursor the checkpoint cannot encode (an integer beyond 64 bits) makes the save raise a
    # TypeError, not an OSError. The poll must fail like any other (nothing applied, backoff),
    # not escape poll_once and end the source's thread: that source would silently stop.
    exp = exporter(tmp_path)
    unencodable = Batch({CALL_SUMMARY: [Observation("500", "1", None, (), 5)]}, cursor=2**70)
    source = FakeSource("fake", [batch(1, 1), unencodable, batch(2, 2)])
    backoff = Backoff()
    assert poll_once(source, exp, backoff, time.monotonic()) is None
    assert poll_once(source, exp, backoff, time.monotonic()) is not None  # failed: backoff
    assert total(exp) == 1
    assert exp.cursor("fake") == 1
    assert poll_once(source, exp, backoff, time.monotonic()) is None
    assert total(exp) == 3
    text = generate_latest(registry(exp)).decode()
    assert 'acs_exporter_query_errors_total{reason="internal",source="fake"} 1.0' in text


def test_a_failed_poll_keeps_the_start_its_error_carries(tmp_path: Path) -> None:
    """SourceError.cursor (a start planned for what was never read) is kept and persisted by a
    failed poll, counting nothing; the retry, also after a restart, is asked from there."""
    planned = {"start": 5}
    source = FakeSource("fake", [SourceError("auth", "no role yet", cursor=planned)])
    exp = exporter(tmp_path)
    assert poll_once(source, exp, Backoff(), time.monotonic()) is not None
    assert exp.cursor("fake") == planned
    assert exp.readiness() == ["source fake: last poll failed: auth: no role yet"]
    assert total(exp) == 0.0
    exp.close()
    restarted = exporter(tmp_path)
    assert restarted.cursor("fake") == planned
    source.script = [batch(2, 6)]
    assert poll_once(source, restarted, Backoff(), time.monotonic()) is None
    assert source.cursors == [None, planned]
    assert total(restarted) == 2.0


def test_a_planned_start_that_cannot_be_saved_is_kept_in_memory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    exp = exporter(tmp_path)
    state.mkdir()  # a directory where the file should be: every save fails
    source = FakeSource("fake", [SourceError("auth", "no role yet", cursor={"start": 5})])
    assert poll_once(source, exp, Backoff(), time.monotonic()) is not None
    assert exp.cursor("fake") == {"start": 5}
    assert exp.readiness() == ["source fake: last poll failed: auth: no role yet"]
