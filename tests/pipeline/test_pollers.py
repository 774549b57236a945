"""Pollers across a reload, and the bounds of the shutdown path, without a process."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from test_daemon_loop import FakeServer, FakeSource, batch, exporter

from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.exposition.text import render_text
from acs_exporter.pipeline.checkpoint import Checkpoint
from acs_exporter.pipeline.daemon import Pollers, run_until_stopped
from acs_exporter.sources.base import Batch
from support.daemon_helpers import samples


def test_a_retired_pollers_batch_in_flight_is_dropped_and_its_successor_reads_it_once(
    tmp_path: Path,
) -> None:
    exp = exporter(tmp_path)
    entered, release = threading.Event(), threading.Event()

    def held() -> Batch:
        entered.set()
        release.wait(10)
        return batch(5, 1)  # the same records the successor reads

    old = FakeSource("fake", [held])
    pollers = Pollers(exp)
    pollers.add(old, 3600)
    assert entered.wait(10)
    pollers.retire("fake")
    new = FakeSource("fake", [batch(5, 1)])
    pollers.add(new, 3600)
    deadline = time.monotonic() + 10
    while exp.cursor("fake") != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()  # the old poll returns now, after its successor counted the records
    deadline = time.monotonic() + 10
    while not old.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert old.closed  # the retired poller closed its own source
    assert new.cursors[0] is None  # the successor started from the unchanged cursor
    assert sum(exp.state.series.values()) == 5  # counted once, by the successor
    assert Checkpoint(tmp_path / "state", LabelPlan()).load().cursors == {"fake": 1}
    pollers.get("fake").stop.set()  # type: ignore[union-attr]


def test_an_unexpected_error_in_a_reload_is_a_failed_reload_not_the_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exp = exporter()
    stop, requested = threading.Event(), threading.Event()
    calls = []

    def broken(pollers: Pollers) -> None:
        calls.append(pollers.names())
        raise RuntimeError("boom")

    runner = threading.Thread(
        target=run_until_stopped,
        kwargs={
            "exporter": exp,
            "sources": [(FakeSource("fake", []), 3600)],
            "server": FakeServer(),
            "pusher": None,
            "stop": stop,
            "reload_requested": requested,
            "reload": broken,
            "grace": 2.0,
        },
    )
    runner.start()
    requested.set()
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert runner.is_alive()
    text = render_text(exp.snapshot())
    assert samples(text, "acs_exporter_config_last_reload_successful") == {(): 0.0}
    assert calls == [["fake"]]
    stop.set()
    runner.join(10)
    assert not runner.is_alive()
    assert "configuration reload failed unexpectedly" in caplog.text


def test_the_final_save_waits_for_the_state_lock_at_most_its_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exp = exporter(tmp_path)
    exp._lock.acquire()  # a poll thread stuck inside a save (e.g. a hung volume)
    try:
        began = time.monotonic()
        exp.close(timeout=0.5)
        assert time.monotonic() - began < 5
    finally:
        exp._lock.release()
    assert "final checkpoint write skipped" in caplog.text
    exp.complete_poll("fake", batch(1, 1), 0.1)  # refused after close
    assert exp.cursor("fake") is None
