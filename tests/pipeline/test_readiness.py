"""/readyz over real HTTP: ready only once the snapshot holding the first batch is served."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY
from acs_exporter.exposition.outcome_tables import OutcomeTables
from acs_exporter.pipeline.backoff import Backoff
from acs_exporter.pipeline.daemon import Exporter, poll_once
from acs_exporter.server.http import ExporterHTTPServer
from acs_exporter.sources.base import Batch, Cursor, Observation, SourceError


class OneBatch:
    """Fails once (naming the service's codes), then returns one batch of 3 call ends."""

    name = "la"

    def __init__(self) -> None:
        self.failed = False

    def fetch(self, cursor: Cursor) -> Batch:
        if not self.failed:
            self.failed = True
            raise SourceError(
                "auth", "access denied (403): InsufficientAccessError (correlationId c1)"
            )
        return Batch({CALL_SUMMARY: [Observation("487", "0", n=3)]}, cursor=1)

    def close(self) -> None:
        pass


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def served() -> Iterator[tuple[Exporter, int]]:
    exporter = Exporter(catalog=load_catalog(), source_names=["la"])
    server = ExporterHTTPServer(("127.0.0.1", 0), exporter.snapshot, exporter.readiness)
    server.start()
    yield exporter, server.port
    server.shutdown()
    server.server_close()


def call_ends(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("acs_call_ends_total{")
    )


def test_not_ready_until_the_snapshot_with_the_first_batch_is_served(
    served: tuple[Exporter, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter, port = served
    source = OneBatch()
    assert poll_once(source, exporter, Backoff(), time.monotonic()) is not None
    status, text = get(port, "/readyz")
    assert status == 503
    assert "source la: last poll failed: auth: access denied (403): InsufficientAccessError" in text
    assert "correlationId c1" in text

    # Hold the build of the snapshot that carries the first batch; look at /readyz meanwhile.
    building, release = threading.Event(), threading.Event()

    families = OutcomeTables.families

    def slow_outcome_families(tables: OutcomeTables) -> Any:
        built = families(tables)
        if any(family.samples for family in built[:-1]):  # outcome families, not the info rows
            building.set()
            assert release.wait(30)
        return built

    monkeypatch.setattr(OutcomeTables, "families", slow_outcome_families)
    poller = threading.Thread(target=poll_once, args=(source, exporter, Backoff(), 0.0))
    poller.start()
    try:
        assert building.wait(30)
        status, text = get(port, "/readyz")
        metrics = get(port, "/metrics")[1]
        assert (status, call_ends(metrics)) == (503, 0.0), text
    finally:
        release.set()
        poller.join(30)
    assert get(port, "/readyz") == (200, "ready\n")
    assert call_ends(get(port, "/metrics")[1]) == 3.0


class Unreadable:
    """A source that could not read some of its inputs at its first two polls."""

    name = "files"

    def __init__(self, *polls: tuple[str, ...]) -> None:
        self.polls = list(polls)

    def fetch(self, cursor: Cursor) -> Batch:
        return Batch({CALL_SUMMARY: [Observation("0", "0")]}, unreadable=self.polls.pop(0))

    def close(self) -> None:
        pass


def test_not_ready_while_a_source_cannot_read_what_it_holds_then_ready_for_good() -> None:
    exporter = Exporter(catalog=load_catalog(), source_names=["files"])
    many = tuple(f"/data/{n}.csv: Permission denied" for n in range(7))
    source = Unreadable(
        many, ("/data/b.csv: Permission denied",), (), ("/data/c.csv: Input/output error",)
    )
    # Tried again at the next regular poll (None), not at once: that would busy-loop.
    assert poll_once(source, exporter, Backoff(), time.monotonic()) is None
    assert exporter.readiness() == [
        "source files: cannot read /data/0.csv: Permission denied; /data/1.csv: Permission "
        "denied; /data/2.csv: Permission denied; /data/3.csv: Permission denied; /data/4.csv: "
        "Permission denied (and 2 more)"
    ]
    assert poll_once(source, exporter, Backoff(), time.monotonic()) is None
    assert exporter.readiness() == ["source files: cannot read /data/b.csv: Permission denied"]
    poll_once(source, exporter, Backoff(), time.monotonic())
    assert exporter.readiness() == []
    poll_once(source, exporter, Backoff(), time.monotonic())  # it stays ready (documented)
    assert exporter.readiness() == []


def test_a_huge_error_message_is_cut_short_in_the_readiness_answer(
    served: tuple[Exporter, int],
) -> None:
    # A service or proxy can answer with a megabyte of text, and a source quotes its error:
    # /readyz (and the memory kept for it) holds a bounded line per source, its start intact
    # (the reason, the status, the service's code and correlationId come first).
    exporter, port = served
    message = "access denied (403): InsufficientAccessError (correlationId c1) " + "x" * 1_000_000
    exporter.fail_poll("la", "auth", message, 0.1)
    status, body = get(port, "/readyz")
    assert status == 503
    line = next(line for line in body.splitlines() if "source la" in line)
    assert "auth: access denied (403): InsufficientAccessError (correlationId c1)" in line
    assert len(line) < 5_000
    assert line.endswith(f"... ({len(message) + len('auth: ')} characters)")  # how long it was
