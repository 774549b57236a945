"""/metrics over real HTTP: bytes rendered once per snapshot, gzip as several members, no Nagle
stall on kept-alive connections."""

from __future__ import annotations

import gzip
import http.client
import statistics
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.metrics import CURSOR_LAG
from acs_exporter.definitions.tables import CALL_SUMMARY
from acs_exporter.exposition import rendered as rendered_module
from acs_exporter.exposition.rendered import RenderedSnapshots
from acs_exporter.exposition.snapshot import Family, Snapshot
from acs_exporter.exposition.text import render_openmetrics, render_text, text_of
from acs_exporter.pipeline.daemon import Exporter
from acs_exporter.server.http import ExporterHTTPServer
from acs_exporter.sources.base import Batch, Observation

NOW = 1_800_000_000.0
GZIP = {"Accept-Encoding": "gzip"}
OPENMETRICS = {"Accept": "application/openmetrics-text; version=1.0.0"}


def exporter_with(series: int, cursor: int = 1) -> Exporter:
    exporter = Exporter(catalog=load_catalog(), source_names=["s"], max_series=series + 10)
    poll(exporter, series, cursor)
    return exporter


def poll(exporter: Exporter, series: int, cursor: int, n: int = 1) -> None:
    observations = [Observation("487", str(10_000 + i), n=n) for i in range(series)]
    # A watermark gives the cursor lag family samples: the part rendered at scrape time.
    batch = Batch({CALL_SUMMARY: observations}, cursor=cursor, watermark=datetime.now(UTC))
    exporter.complete_poll("s", batch, 0.01)


@pytest.fixture
def served() -> Iterator[tuple[Exporter, ExporterHTTPServer]]:
    exporter = exporter_with(200)
    server = ExporterHTTPServer(("127.0.0.1", 0), exporter.snapshot, exporter.readiness)
    # A fixed clock: the cursor lag then renders the same at every scrape, so whole bodies
    # can be compared with the renderer's output byte for byte.
    server.rendered = RenderedSnapshots(exporter.snapshot, clock=lambda: NOW)
    server.start()
    yield exporter, server
    server.shutdown()
    server.server_close()


def scrape(connection: http.client.HTTPConnection, headers: dict[str, str]) -> bytes:
    connection.request("GET", "/metrics", headers=headers)
    response = connection.getresponse()
    body = response.read()
    assert response.status == 200, body
    if response.getheader("Content-Encoding") == "gzip":
        return gzip.decompress(body)
    return body


def gzip_members(data: bytes) -> int:
    members = 0
    while data:
        decoder = zlib.decompressobj(wbits=31)
        decoder.decompress(data)
        assert decoder.eof, "truncated gzip member"
        members, data = members + 1, decoder.unused_data
    return members


def test_scrapes_are_the_renderers_bytes_in_both_formats_and_codings(
    served: tuple[Exporter, ExporterHTTPServer],
) -> None:
    exporter, server = served
    text = render_text(exporter.snapshot(), NOW).encode()
    openmetrics = render_openmetrics(exporter.snapshot(), NOW).encode() + b"# EOF\n"
    assert CURSOR_LAG.name.encode() + b'{source="s"}' in text  # the dynamic part is there
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    for _ in range(2):  # the second scrape of each comes from the cache
        assert scrape(connection, {}) == text
        assert scrape(connection, GZIP) == text
        assert scrape(connection, OPENMETRICS) == openmetrics
        assert scrape(connection, {**OPENMETRICS, **GZIP}) == openmetrics
    assert (server.rendered.renders, server.rendered.compressions) == (2, 2)
    # Scraped both ways, a snapshot's text and gzip members are both held (the second round's
    # uncompressed scrapes unpacked the text from the members, which alone were kept).
    assert all(entry.pieces and entry.gzipped for entry in server.rendered._entries.values())


def test_once_gzipped_only_the_members_are_held_until_an_uncompressed_scrape() -> None:
    exporter = exporter_with(50)
    rendered = RenderedSnapshots(exporter.snapshot, clock=lambda: NOW)
    text = b"".join(rendered.body("text", False))
    rendered.body("text", True)
    assert rendered._entries["text"].pieces is None  # Prometheus only: ~20 bytes a series
    assert b"".join(rendered.body("text", False)) == text
    assert rendered._entries["text"].pieces is not None
    assert rendered.renders == 1


def test_a_gzip_scrape_is_cached_members_and_fresh_ones() -> None:
    exporter = exporter_with(50)
    clock = [NOW]
    rendered = RenderedSnapshots(exporter.snapshot, clock=lambda: clock[0])
    first = b"".join(rendered.body("text", True, b"# trailer\n"))
    clock[0] += 7.0
    second = b"".join(rendered.body("text", True, b"# trailer\n"))
    # Members: the calls and info rows, the lag, the self-metrics after it, the trailer.
    assert gzip_members(first) == gzip_members(second) == 4
    assert gzip.decompress(first) == render_text(exporter.snapshot(), NOW).encode() + b"# trailer\n"
    # The lag moved with the clock, though the snapshot (and its cached member) did not.
    assert gzip.decompress(second) == render_text(exporter.snapshot(), NOW + 7).encode() + (
        b"# trailer\n"
    )
    assert rendered.renders == 1


def test_a_new_snapshot_is_rendered_and_the_old_bytes_dropped(
    served: tuple[Exporter, ExporterHTTPServer],
) -> None:
    exporter, server = served
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    before = scrape(connection, GZIP)
    poll(exporter, 200, cursor=2, n=5)
    after = scrape(connection, GZIP)
    assert after != before
    assert after == render_text(exporter.snapshot(), NOW).encode()
    assert b'acs_call_ends_total{category="ExpectedError",code="487",subcode="10000"} 6.0' in after
    # Only the current snapshot's bytes are held, one entry per format.
    entries = server.rendered._entries
    assert [entry.snapshot is exporter.snapshot() for entry in entries.values()] == [True]


def test_200_simultaneous_scrapes_render_and_compress_once() -> None:
    exporter = exporter_with(3000)
    server = ExporterHTTPServer(("127.0.0.1", 0), exporter.snapshot, exporter.readiness)
    server.start()
    start = threading.Barrier(200, timeout=60)
    bodies: list[bytes] = []
    failures: list[BaseException] = []

    def client() -> None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            connection.connect()
            start.wait()
            bodies.append(scrape(connection, GZIP))
            connection.close()
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)

    threads = [threading.Thread(target=client) for _ in range(200)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        server.shutdown()
        server.server_close()
    assert not failures, failures[:3]
    assert len(bodies) == 200
    assert all(b"acs_call_ends_total" in body for body in bodies)
    assert (server.rendered.renders, server.rendered.compressions) == (1, 1)


def test_registry_output_follows_in_every_format_and_coding() -> None:
    exporter = exporter_with(20)
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    server = ExporterHTTPServer(
        ("127.0.0.1", 0), exporter.snapshot, exporter.readiness, None, registry
    )
    server.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for headers in ({}, GZIP, OPENMETRICS, {**OPENMETRICS, **GZIP}):
            body = scrape(connection, headers)
            assert b"\nprocess_open_fds " in body
            assert body.count(b"# EOF") == (1 if headers.get("Accept") else 0)
            assert body.endswith(b"# EOF\n") == bool(headers.get("Accept"))
    finally:
        server.shutdown()
        server.server_close()


def test_kept_alive_gzip_scrapes_do_not_wait_for_a_delayed_ack(
    served: tuple[Exporter, ExporterHTTPServer],
) -> None:
    """With Nagle's algorithm on and headers and body sent apart, each kept-alive scrape waits
    for the client's delayed ACK (40 ms on Linux). A small scrape takes ~1 ms without it; the
    median of 40 against half the stall leaves a wide margin on a loaded machine."""
    _, server = served
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    timings = []
    for _ in range(40):
        started = time.perf_counter()
        scrape(connection, GZIP)
        connection.request("HEAD", "/metrics", headers=GZIP)  # headers without a body
        connection.getresponse().read()
        timings.append(time.perf_counter() - started)
    assert statistics.median(timings) < 0.020, sorted(timings)


def test_an_empty_snapshot_is_still_a_gzip_stream() -> None:
    rendered = RenderedSnapshots(Snapshot)
    body = b"".join(rendered.body("text", True))
    assert gzip_members(body) == 1
    assert gzip.decompress(body) == b""


def test_a_render_in_progress_never_blocks_a_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = exporter_with(100)
    rendered = RenderedSnapshots(exporter.snapshot)
    rendering, release = threading.Event(), threading.Event()

    def slow_text(families: Iterable[Family]) -> str:
        rendering.set()
        assert release.wait(30)
        return text_of(families)

    monkeypatch.setitem(rendered_module._RENDERERS, "text", slow_text)
    scraper = threading.Thread(target=rendered.body, args=("text", False))
    scraper.start()
    try:
        assert rendering.wait(30)
        before = exporter.snapshot()
        poller = threading.Thread(target=poll, args=(exporter, 100, 2, 4))
        poller.start()
        poller.join(20)  # the render still holds its lock: a poll waiting on it stays alive
        assert not poller.is_alive()
        assert not release.is_set()
        assert exporter.snapshot() is not before
    finally:
        release.set()
        scraper.join(30)
    monkeypatch.setitem(rendered_module._RENDERERS, "text", text_of)
    body = b"".join(rendered.body("text", False))
    assert b'code="487",subcode="10000"} 5.0' in body
