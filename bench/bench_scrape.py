"""(7) `/metrics` scrapes over a kept-alive connection, as Prometheus makes them.

Three servers, each in a process of its own, scraped by one `http.client` connection from this
process (p50 of repeated scrapes after a warm-up; the body is read, not decompressed):

- ours: the real `ExporterHTTPServer` over an exporter holding N outcome series (the bench_render
  series) and the process collector, as `acs-exporter run` serves them;
- prometheus_client: its own `start_http_server` over a `Counter` with the same label sets;
- the floor: the same HTTP stack (`ThreadingHTTPServer`, HTTP/1.1, TCP_NODELAY) writing bytes
  built before the first request (ours' text body and its gzip form) in one write.

The targets are ratios measured in the same run: ours within 3x of the floor, text and gzip.
The scale curve scrapes ours at 1k to 100k series.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from acs_exporter.exposition.snapshot import Snapshot
from bench.result import Result

SERIES = 10_000
CURVE = (1_000, 10_000, 50_000, 100_000)
TARGET_RATIO = 3.0
GZIP = {"Accept-Encoding": "gzip"}


def _repetitions(series: int) -> int:
    return 60 if series <= 10_000 else 12


# --- the servers (each runs in a child: `python -m bench.bench_scrape SERVER ...`) ------------


def _serve_ours(snapshot_path: str) -> None:
    from prometheus_client import CollectorRegistry
    from prometheus_client.process_collector import ProcessCollector

    from acs_exporter.server.http import ExporterHTTPServer

    snapshot = _load(snapshot_path)
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    server = ExporterHTTPServer(("127.0.0.1", 0), lambda: snapshot, list, None, registry)
    _announce(server.port)
    server.serve_forever()


def _serve_prometheus_client(snapshot_path: str) -> None:
    import prometheus_client

    from bench.bench_render import counter_registry

    registry = counter_registry(_load(snapshot_path))
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    server, _ = prometheus_client.start_http_server(0, "127.0.0.1", registry)
    _announce(int(server.server_address[1]))
    server.serve_forever()


def _serve_floor(text_path: str) -> None:
    text = Path(text_path).read_bytes()
    bodies = {False: text, True: gzip.compress(text, compresslevel=1)}

    class Floor(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            compress = "gzip" in self.headers.get("Accept-Encoding", "")
            body = bodies[compress]
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\n"
                + ("Content-Encoding: gzip\r\n" if compress else "")
                + "\r\n"
            )
            self.wfile.write(head.encode() + body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Floor)
    server.daemon_threads = True
    _announce(int(server.server_address[1]))
    server.serve_forever()


def _announce(port: int) -> None:
    print(port, flush=True)


def _load(path: str) -> Snapshot:
    snapshot = pickle.loads(Path(path).read_bytes())
    assert isinstance(snapshot, Snapshot)
    return snapshot


# --- the snapshots: bench_render's exporter, built once, scaled to each series count ---------


def scaled(snapshot: Snapshot, base: int, series: int) -> Snapshot:
    """`snapshot` (with `base` outcome series) with `series` outcome series: its large families
    (call ends and their info rows) cut, or repeated with distinct subcodes. Resolving 100k
    distinct pairs through the catalog would take most of a minute; the bytes per series are
    the same."""
    families = []
    for family in snapshot.families:
        if len(family.samples) < base // 2 or "subcode" not in family.label_names:
            families.append(family)
            continue
        at = family.label_names.index("subcode")
        wanted = len(family.samples) * series // base
        samples = [
            ((*labels[:at], f"{labels[at]}{copy or ''}", *labels[at + 1 :]), value)
            for copy in range(-(-wanted // len(family.samples)))
            for labels, value in family.samples
        ]
        families.append(replace(family, samples=tuple(samples[:wanted])))
    return Snapshot(tuple(families))


def _snapshots(tmp: Path) -> dict[int, Path]:
    from bench.bench_render import our_registry

    _, exporter = our_registry(SERIES)
    paths = {}
    for series in sorted({SERIES, *CURVE}):
        paths[series] = tmp / f"snapshot-{series}.pickle"
        paths[series].write_bytes(pickle.dumps(scaled(exporter.snapshot(), SERIES, series)))
    return paths


# --- the client --------------------------------------------------------------------------------


@contextmanager
def _server(*args: str) -> Iterator[int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_scrape", *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"bench server {args} did not start")
        yield int(line)
    finally:
        process.kill()
        process.wait(30)


def _scrape(connection: http.client.HTTPConnection, headers: dict[str, str]) -> bytes:
    connection.request("GET", "/metrics", headers=headers)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"scrape answered {response.status}")
    return body


def p50_ms(port: int, headers: dict[str, str], runs: int) -> tuple[float, int]:
    """Median milliseconds of `runs` scrapes on one kept-alive connection, and the body size."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        size = len(_scrape(connection, headers))
        for _ in range(2):  # warm-up: the first scrape of a snapshot renders it
            _scrape(connection, headers)
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            _scrape(connection, headers)
            timings.append(time.perf_counter() - started)
        return statistics.median(timings) * 1000, size
    finally:
        connection.close()


def _both(port: int, runs: int) -> tuple[tuple[float, int], tuple[float, int]]:
    return p50_ms(port, {}, runs), p50_ms(port, GZIP, runs)


def interleaved_p50_ms(ports: tuple[int, int], headers: dict[str, str], runs: int) -> list[float]:
    """Median milliseconds of each server's scrapes, taken in turn (A, B, A, B, ...) on one
    kept-alive connection each: on a loaded machine both see the same load, so their ratio
    holds where two medians taken one after the other would not."""
    connections = [http.client.HTTPConnection("127.0.0.1", p, timeout=120) for p in ports]
    timings: list[list[float]] = [[] for _ in ports]
    try:
        for _ in range(3):  # warm-up
            for connection in connections:
                _scrape(connection, headers)
        for _ in range(runs):
            for connection, times in zip(connections, timings, strict=True):
                started = time.perf_counter()
                _scrape(connection, headers)
                times.append(time.perf_counter() - started)
    finally:
        for connection in connections:
            connection.close()
    return [statistics.median(times) * 1000 for times in timings]


def _ratio_row(what: str, ours: float, other: float, target: bool) -> Result:
    ratio = ours / other
    return Result(
        "scrape",
        f"{what}, keep-alive p50, {SERIES:,} series",
        f"{ours:.2f} ms vs {other:.2f} ms = {ratio:.3g}x",
        f"<= {TARGET_RATIO:.0f}x" if target else "",
        ratio <= TARGET_RATIO if target else None,
    )


def _comparison(tmp: Path, snapshots: dict[int, Path]) -> list[Result]:
    runs = _repetitions(SERIES)
    with _server("ours", str(snapshots[SERIES])) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        (tmp / "body.txt").write_bytes(_scrape(connection, {}))
        text_size, gzip_size = len((tmp / "body.txt").read_bytes()), len(_scrape(connection, GZIP))
        connection.close()
        with _server("floor", str(tmp / "body.txt")) as floor:
            text_ms, floor_text = interleaved_p50_ms((port, floor), {}, runs)
            gzip_ms, floor_gzip = interleaved_p50_ms((port, floor), GZIP, runs)
    with _server("prometheus_client", str(snapshots[SERIES])) as port:
        (client_text, _), (client_gzip, _) = _both(port, 15)
    return [
        Result("scrape", f"ours, text ({text_size:,} bytes), p50 ms", f"{text_ms:.2f}"),
        Result("scrape", f"ours, gzip ({gzip_size:,} bytes), p50 ms", f"{gzip_ms:.2f}"),
        _ratio_row("ours / floor, text", text_ms, floor_text, True),
        _ratio_row("ours / floor, gzip", gzip_ms, floor_gzip, True),
        _ratio_row("ours / prometheus_client, text", text_ms, client_text, False),
        _ratio_row("ours / prometheus_client, gzip", gzip_ms, client_gzip, False),
    ]


def _curve(snapshots: dict[int, Path]) -> list[Result]:
    rows = []
    for series in CURVE:
        with _server("ours", str(snapshots[series])) as port:
            (text_ms, size), (gzip_ms, gzip_size) = _both(port, _repetitions(series))
        rows.append(
            Result(
                "scrape curve",
                f"ours, {series:>7,} series, p50 text / gzip "
                f"({size / 1e6:.1f} MB / {gzip_size / 1e6:.2f} MB)",
                f"{text_ms:.2f} ms / {gzip_ms:.2f} ms",
            )
        )
    return rows


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        snapshots = _snapshots(Path(tmp))
        return [*_comparison(Path(tmp), snapshots), *_curve(snapshots)]


def main() -> None:
    parser = argparse.ArgumentParser(description="a bench_scrape server (run by run())")
    parser.add_argument("server", choices=("ours", "prometheus_client", "floor"))
    parser.add_argument("path", help="the pickled snapshot; for floor, the file of its body")
    args = parser.parse_args()
    if args.server == "floor":
        _serve_floor(args.path)
    elif args.server == "ours":
        _serve_ours(args.path)
    else:
        _serve_prometheus_client(args.path)


if __name__ == "__main__":
    main()
