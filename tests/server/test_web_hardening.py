"""The HTTP server under hostile or unusual clients: bursts, slow clients, odd headers, plain
HTTP on the TLS port, credentials bcrypt refuses. Real sockets against the real server."""

from __future__ import annotations

import asyncio
import base64
import gzip
import http.client
import socket
import ssl
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import bcrypt
import pytest
import trustme
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from acs_exporter.exposition.snapshot import Snapshot
from acs_exporter.server.http import ExporterHTTPServer
from acs_exporter.server.webconfig import BasicAuth, WebConfig, load_web_config
from support.daemon_helpers import start

PASSWORD = "s3cret-scrape"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


@contextmanager
def serving(
    web_config: WebConfig | None = None,
    readiness: Callable[[], list[str]] = list,
    request_timeout: float = 30.0,
    registry: CollectorRegistry | None = None,
    max_connections: int = 512,
) -> Iterator[ExporterHTTPServer]:
    server = ExporterHTTPServer(
        ("127.0.0.1", 0),
        Snapshot,
        readiness,
        web_config,
        registry,
        request_timeout=request_timeout,
        max_connections=max_connections,
    )
    server.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def auth(user: str, password: str | bytes) -> dict[str, str]:
    raw = password if isinstance(password, bytes) else password.encode()
    token = base64.b64encode(user.encode() + b":" + raw).decode()
    return {"Authorization": f"Basic {token}"}


def get(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes, http.client.HTTPMessage]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), response.headers
    finally:
        connection.close()


def raw_exchange(port: int, data: bytes, timeout: float = 20) -> bytes:
    """Send bytes as they are and read until the server closes: what a browser-less client sees."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1."), response[:200]
    return int(response.split(b" ", 2)[1])


# --- A burst of simultaneous scrapes -------------------------------------------------------


async def _scrape(port: int, started: float) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    response = await reader.read()
    writer.close()
    assert response.startswith(b"HTTP/1.1 200"), response[:100]
    return time.monotonic() - started


async def _burst(port: int, count: int) -> list[float]:
    started = time.monotonic()
    return await asyncio.gather(*(_scrape(port, started) for _ in range(count)))


def test_200_simultaneous_scrapes_are_all_answered_without_syn_retry_stalls() -> None:
    """A listen backlog of 5 drops most of a burst's SYNs, which the clients retry after 1 s and
    then 3 s: the slowest scrape of the burst takes seconds. A real backlog queues them all."""
    with serving() as server:
        get(server.port, "/healthz")  # warm up
        # The better of two bursts: a passing load spike on the machine hits one, a backlog
        # that drops SYNs hits both.
        bursts = [asyncio.run(_burst(server.port, 200)) for _ in range(2)]
    assert all(len(durations) == 200 for durations in bursts)
    # A SYN retransmit adds at least 1 s; 200 tiny responses take well under that even on a
    # loaded machine, so anything past 2.5 s means connections were dropped and retried.
    slowest = min(max(durations) for durations in bursts)
    assert slowest < 2.5, [sorted(durations)[-5:] for durations in bursts]


# --- Slow clients ---------------------------------------------------------------------------


def _dribble(port: int, payload: bytes, give_up: float, tls: bool = False) -> tuple[float, bytes]:
    """Send one byte a second until the server cuts the connection; how long it took and what
    the server answered (if anything)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=give_up)
    started = time.monotonic()
    received = b""
    try:
        sock.settimeout(1.0)
        for byte in payload:
            if time.monotonic() - started > give_up:
                break
            try:
                sock.send(bytes([byte]))
            except OSError:
                break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            received += chunk
            if not chunk:
                break
            # Data: read on until the close.
            sock.settimeout(5.0)
            while chunk:
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    break
                received += chunk
            break
        return time.monotonic() - started, received
    finally:
        sock.close()


SLOW_REQUEST = b"GET /metrics HTTP/1.1\r\n" + b"".join(
    b"X-Padding-%d: %s\r\n" % (i, b"x" * 10) for i in range(200)
)


def test_a_client_dribbling_a_byte_a_second_is_cut_at_the_request_deadline() -> None:
    """The idle timeout restarts with every byte; the request deadline does not."""
    with serving(request_timeout=2.0) as server:
        result: list[tuple[float, bytes]] = []
        slow = threading.Thread(
            target=lambda: result.append(_dribble(server.port, SLOW_REQUEST, give_up=40))
        )
        slow.start()
        # Other clients are served meanwhile.
        for _ in range(3):
            assert get(server.port, "/metrics")[0] == 200
            time.sleep(0.3)
        slow.join(60)
    elapsed, answer = result[0]
    assert 1.5 <= elapsed < 20, elapsed
    assert answer == b"" or status_of(answer) == 408, answer[:200]


def test_the_real_process_takes_its_request_deadline_from_the_configuration(
    tmp_path: Path,
) -> None:
    running = start([], tmp_path, env={"ACS_EXPORTER_WEB__REQUEST_TIMEOUT": "2s"})
    try:
        running.wait_ready()
        elapsed, answer = _dribble(running.port, SLOW_REQUEST, give_up=40)
        assert running.get("/healthz")[0] == 200
    finally:
        assert running.stop() == 0, running.log()
    assert 1.5 <= elapsed < 20, elapsed
    assert answer == b"" or status_of(answer) == 408, answer[:200]
    assert "request deadline passed" in running.log()


class _Bulky(Collector):
    """About 11 MB of series: far more than the kernel's socket buffers hold."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("bulky", "padding", labels=["n"])
        for n in range(50_000):
            family.add_metric([f"{n:0200d}"], n)
        yield family


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            return int(value)
    raise AssertionError(head)


def test_a_client_reading_the_answer_slowly_is_cut_at_the_request_deadline() -> None:
    """Read a kilobyte every 0.2 s for 12 s, then everything as fast as possible: a server that
    kept writing past the 8 s deadline delivers the whole body; one that gave up truncates it
    (the kernel's buffers still deliver what was written before the cut). The deadline leaves
    rendering the 11 MB (under a second) ample time on a loaded machine."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Bulky())
    with serving(request_timeout=8.0, registry=registry) as server:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        sock.settimeout(20)
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(1024)
            assert chunk, f"closed before the answer (rendering took the deadline?): {data!r}"
            data += chunk
        slow_until = time.monotonic() + 12
        while time.monotonic() < slow_until and (chunk := sock.recv(1024)):
            data += chunk
            time.sleep(0.2)
        try:
            while chunk := sock.recv(1 << 20):
                data += chunk
        except OSError:
            pass
        finally:
            sock.close()
        assert get(server.port, "/healthz")[0] == 200
    head, _, body = data.partition(b"\r\n\r\n")
    received, promised = len(body), _content_length(head)
    assert received < promised, (received, promised)


def test_connections_past_the_limit_get_503_and_the_slots_come_back() -> None:
    """Each connection holds a thread (for at most the request deadline): past the limit a new
    one is refused at once instead of adding threads without bound."""
    with serving(max_connections=5) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(5)]
        try:
            # Each holds its slot once the server has accepted it.
            deadline = time.monotonic() + 20
            answer = b""
            while time.monotonic() < deadline:
                answer = raw_exchange(
                    server.port, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"
                )
                if answer.startswith(b"HTTP/1.1 503"):
                    break
                time.sleep(0.1)
            assert answer.startswith(b"HTTP/1.1 503"), answer
        finally:
            for sock in idle:
                sock.close()
        # Closed connections give their slots back.
        deadline = time.monotonic() + 20
        while not _healthy(server.port):
            assert time.monotonic() < deadline
            time.sleep(0.1)


def _healthy(port: int) -> bool:
    try:
        return get(port, "/healthz")[0] == 200
    except OSError:
        return False


def test_an_idle_or_slow_connection_does_not_delay_shutdown(tmp_path: Path) -> None:
    """A kept-alive scraper connection (idle up to 30 s) or a slow client must not hold SIGTERM
    up: connection threads are daemons, which server_close does not wait for."""
    running = start([], tmp_path)
    try:
        running.wait_ready()
        kept = http.client.HTTPConnection("127.0.0.1", running.port, timeout=20)
        kept.request("GET", "/metrics")
        kept.getresponse().read()  # the connection stays open, idle
        slow = socket.create_connection(("127.0.0.1", running.port))
        slow.sendall(b"GET /metrics HTTP/1.1\r\n")  # and a request that never completes
        time.sleep(0.5)
        started = time.monotonic()
        assert running.stop(timeout=60) == 0, running.log()
        assert time.monotonic() - started < 10, running.log()
    finally:
        if running.process.poll() is None:
            running.process.kill()
        kept.close()
        slow.close()


def test_a_keep_alive_connection_gets_a_fresh_deadline_per_request() -> None:
    """The deadline bounds one request, not the connection: a scraper that keeps its
    connection and scrapes every second past the deadline is still served."""
    with serving(request_timeout=1.5) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        try:
            for _ in range(3):
                connection.request("GET", "/metrics")
                response = connection.getresponse()
                response.read()
                assert response.status == 200
                time.sleep(1.0)
        finally:
            connection.close()


def test_a_slow_tls_handshake_is_cut_at_the_request_deadline(
    tmp_path: Path, tls_config: Path
) -> None:
    with serving(load_web_config(tls_config), request_timeout=2.0) as server:
        # A TLS record header (handshake, TLS 1.0) followed by a dribbled ClientHello.
        elapsed, _ = _dribble(server.port, b"\x16\x03\x01\x02\x00" + b"\x01" * 100, give_up=40)
        assert 1.5 <= elapsed < 20, elapsed
        assert get_tls_status(server.port, tls_config) == 200


# --- Accept-Encoding, Accept --------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("x-gzip-no, deflate, GZip ; Q=0.5", True),
        ("*", True),
        ("br;q=1.0, *;q=0.1", True),
        ("identity;q=0, gzip", True),
        ("gzip;q=0.4, identity;q=0.5", False),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("*;q=0, identity", False),
        ("nogzipnope", False),
        ("deflate", False),
        ("gzip;q=x", False),  # a malformed q-value makes the element unusable
        ("", False),
        (None, False),
    ],
)
def test_gzip_is_negotiated_from_tokens_and_q_values(
    accept_encoding: str | None, gzipped: bool
) -> None:
    headers = {} if accept_encoding is None else {"Accept-Encoding": accept_encoding}
    with serving() as server:
        status, body, response_headers = get(server.port, "/metrics", headers)
    assert status == 200
    assert response_headers.get("Content-Encoding") == ("gzip" if gzipped else None)
    assert body.startswith(b"\x1f\x8b") == gzipped  # the gzip magic number
    if gzipped:
        gzip.decompress(body)
    assert "Accept-Encoding" in response_headers.get("Vary", "")


@pytest.mark.parametrize("accept_encoding", ["identity;q=0", "*;q=0", "gzip;q=0, *;q=0"])
def test_no_acceptable_encoding_is_406(accept_encoding: str) -> None:
    with serving() as server:
        status, _, _ = get(server.port, "/metrics", {"Accept-Encoding": accept_encoding})
    assert status == 406


@pytest.mark.parametrize(
    ("accept", "openmetrics"),
    [
        ("application/openmetrics-text", True),
        ("Application/OpenMetrics-Text; version=1.0.0", True),
        (
            "application/openmetrics-text;version=1.0.0;q=0.6,text/plain;version=0.0.4;q=0.3,"
            "*/*;q=0.2",
            True,
        ),
        ("text/plain;q=1, application/openmetrics-text;q=0.5", False),
        ("application/openmetrics-text;q=0", False),
        ("text/plain", False),
        ("*/*", False),
        ("", False),
    ],
)
def test_openmetrics_is_negotiated_case_insensitively_with_q_values(
    accept: str, openmetrics: bool
) -> None:
    with serving() as server:
        status, body, headers = get(server.port, "/metrics", {"Accept": accept})
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text") == openmetrics
    assert body.endswith(b"# EOF\n") == openmetrics


# --- Basic auth -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        auth("alice", "p" * 73),  # bcrypt refuses passwords over 72 bytes
        auth("alice", PASSWORD + "x" * 100),  # the right password, then more than bcrypt reads
        auth("alice", b"a\x00b"),
        auth("alice", b"\xff\xfe"),  # not UTF-8
        {"Authorization": "Basic \u00e9\u00e9\u00e9\u00e9"},  # not ASCII: b64decode raises
        {"Authorization": "Basic"},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
    ],
)
def test_credentials_bcrypt_cannot_check_get_401_not_a_dropped_connection(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    config = tmp_path / "web.yml"
    config.write_text(f"basic_auth_users:\n  alice: {HASH}\n")
    with serving(load_web_config(config)) as server:
        status, _, response_headers = get(server.port, "/metrics", headers)
        assert get(server.port, "/metrics", auth("alice", PASSWORD))[0] == 200
    assert status == 401
    assert response_headers["WWW-Authenticate"].startswith("Basic realm=")


def test_basic_auth_scheme_is_case_insensitive(tmp_path: Path) -> None:
    config = tmp_path / "web.yml"
    config.write_text(f"basic_auth_users:\n  alice: {HASH}\n")
    token = auth("alice", PASSWORD)["Authorization"].split(" ", 1)[1]
    with serving(load_web_config(config)) as server:
        assert get(server.port, "/metrics", {"Authorization": f"BASIC  {token}"})[0] == 200


@pytest.mark.parametrize("cost", [7, 12])
def test_unknown_user_and_wrong_password_take_the_same_time(cost: int) -> None:
    """The dummy hash checked for an unknown user must cost what the real hashes cost: with a
    fixed cost (10), an unknown user is answered measurably faster or slower than a known one
    whose hash has another cost. bcrypt doubles per cost step, so a mismatch of even one step
    gives a ratio of 2 (or 0.5); equal costs give 1, whatever the load on the machine."""
    checker = BasicAuth({"alice": bcrypt.hashpw(b"right", bcrypt.gensalt(cost)).decode()})
    checker.check("alice", "warm-up")
    wrong_password: list[float] = []
    unknown_user: list[float] = []
    for _ in range(21 if cost < 10 else 5):
        # Interleaved, so a burst of load on the machine hits both alike.
        for user, times in (("alice", wrong_password), ("mallory", unknown_user)):
            started = time.perf_counter()
            assert not checker.check(user, "wrong")
            times.append(time.perf_counter() - started)
    ratio = statistics.median(unknown_user) / statistics.median(wrong_password)
    assert 0.67 < ratio < 1.5, (ratio, wrong_password, unknown_user)


# --- Plain HTTP to the TLS port ------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_config(tmp_path: Path, ca: trustme.CA) -> Path:
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    config = tmp_path / "web.yml"
    config.write_text("tls_server_config:\n  cert_file: server.pem\n  key_file: server.pem\n")
    return config


def get_tls_status(port: int, config: Path) -> int:
    context = ssl.create_default_context(cafile=str(config.parent / "ca.pem"))
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=20)
    try:
        connection.request("GET", "/metrics")
        return connection.getresponse().status
    finally:
        connection.close()


def test_plain_http_to_the_tls_port_gets_400_like_exporter_toolkit(tls_config: Path) -> None:
    with serving(load_web_config(tls_config)) as server:
        answer = raw_exchange(server.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(answer) == 400
        assert answer.endswith(b"\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
        # The server still speaks TLS to the next client.
        assert get_tls_status(server.port, tls_config) == 200


# --- Oversized or odd requests get a clean 4xx/5xx, never a dropped connection ---------------


def test_a_huge_header_block_is_refused_with_431() -> None:
    """Each header line is capped by the standard library, but 100 lines of 64 KiB are 6 MiB
    held per connection; the whole head is capped."""
    head = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-Big-%d: %s\r\n" % (i, b"y" * 30000) for i in range(20)
    )
    with serving() as server:
        answer = raw_exchange(server.port, head + b"\r\n")
    assert status_of(answer) == 431


@pytest.mark.parametrize(
    ("request_head", "expected"),
    [
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /metrics HTTP/1.1\r\n" + b"X-A: b\r\n" * 150 + b"\r\n", 431),
        (b"GET http://[oops/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        (b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 501),
        (b"garbage\r\n\r\n", 400),
    ],
)
def test_malformed_requests_get_a_clean_error(request_head: bytes, expected: int) -> None:
    with serving() as server:
        answer = raw_exchange(server.port, request_head)
    assert status_of(answer) == expected


def test_readiness_that_raises_is_a_500_not_a_dropped_connection() -> None:
    def broken() -> list[str]:
        raise RuntimeError("boom")

    with serving(readiness=broken) as server:
        status, body, _ = get(server.port, "/readyz")
    assert status == 500
    assert b"boom" not in body


def test_configured_headers_are_on_error_responses_too(tmp_path: Path) -> None:
    config = tmp_path / "web.yml"
    config.write_text("http_server_config:\n  headers:\n    X-Frame-Options: deny\n")
    with serving(load_web_config(config)) as server:
        answer = raw_exchange(server.port, b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        ok = get(server.port, "/metrics")
    assert status_of(answer) == 501
    assert b"\r\nX-Frame-Options: deny\r\n" in answer
    assert ok[2]["X-Frame-Options"] == "deny"
