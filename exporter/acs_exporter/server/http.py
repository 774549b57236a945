"""HTTP endpoints: the metrics (/metrics, or web.telemetry_path), /healthz, /readyz and a landing
page, with optional TLS and auth.

Basic auth (when configured) guards /metrics and the landing page; /healthz and /readyz stay
open so that kubelet probes work without credentials; they reveal no counts and no secrets.
"""

from __future__ import annotations

import base64
import http.client
import io
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest as generate_text
from prometheus_client.openmetrics import exposition as openmetrics_exposition

from acs_exporter import __version__
from acs_exporter.exposition.rendered import RenderedSnapshots
from acs_exporter.exposition.snapshot import Snapshot
from acs_exporter.exposition.text import OPENMETRICS, TEXT
from acs_exporter.inputs.redact import mask_url, mask_urls
from acs_exporter.pipeline.source_status import SourceStatus
from acs_exporter.server.landing import render_landing
from acs_exporter.server.webconfig import BasicAuth, WebConfig

log = logging.getLogger("acs_exporter.server.http")
# A request target with a query, as a request line holds it: `GET /metrics?k=v HTTP/1.1`.
_TARGET_QUERY = re.compile(r"(?<![\w/:])/[^\s\"']*\?[^\s\"']*")

# Untyped in prometheus_client.
generate_openmetrics = cast(
    Callable[[CollectorRegistry], bytes], openmetrics_exposition.generate_latest
)

# Answers a readiness question: an empty list means ready, otherwise what is still missing.
Readiness = Callable[[], list[str]]
# Each source's state, for the landing page.
Statuses = Callable[[], Sequence[SourceStatus]]

# Connections the kernel queues before accept(): a burst of simultaneous scrapes (Prometheus
# replicas, federation, a dashboard reload) must not overflow it, or the dropped SYNs are
# retried by the clients after 1 s, then 3 s. The kernel caps it at net.core.somaxconn.
LISTEN_BACKLOG = 1024
# Connections served at once (one thread each). Past this a new connection is answered 503
# and closed at once, so a flood of slow clients costs bounded threads and memory.
MAX_CONNECTIONS = 512
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 21\r\n\r\ntoo many connections\n"
)
# How long a kept-alive connection may wait for its next request.
IDLE_TIMEOUT_SECONDS = 30.0
# The request line is capped at 64 KiB by the standard library; the header block as a whole is
# capped here (each header line alone could otherwise be 64 KiB, 100 of them).
MAX_HEADER_BYTES = 64 * 1024
# What Go's net/http (so every exporter-toolkit exporter) answers plain HTTP on a TLS port.
PLAIN_HTTP_ON_TLS_PORT = (
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)
_TLS_HANDSHAKE_RECORD = 0x16
# Bytes handed to one send: a client that reads slowly is cut at its deadline between two.
_SEND_CHUNK = 65536


_QVALUE = re.compile(r"^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")


def parse_weighted(header: str) -> dict[str, float]:
    """`token;param=x;q=0.5, other` (Accept, Accept-Encoding) as {lower-cased token: q}, per
    RFC 9110 section 12.4.2. An element with a malformed q-value is dropped (it can express no
    preference we could trust); a token listed twice keeps its highest q."""
    weights: dict[str, float] = {}
    for element in header.split(","):
        token, *params = (part.strip() for part in element.split(";"))
        if not token:
            continue
        weight: float | None = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                weight = float(value) if _QVALUE.match(value) else None
        if weight is not None:
            key = token.lower()
            weights[key] = max(weight, weights.get(key, 0.0))
    return weights


def choose_content_coding(accept_encoding: str | None) -> str | None:
    """ "gzip" or "identity" for an Accept-Encoding header, or None when neither is acceptable
    (RFC 9110 section 12.5.3): `*` stands for any coding not listed, identity is acceptable
    unless `identity;q=0` (or `*;q=0` without identity) excludes it, and the higher q wins, gzip
    on a tie; identity not mentioned at all is acceptable but wanted least."""
    if accept_encoding is None:
        return "identity"
    codings = parse_weighted(accept_encoding)
    star = codings.get("*")
    gzip_q = codings.get("gzip", codings.get("x-gzip", star if star is not None else 0.0))
    identity_q = codings.get("identity", star)  # None: not mentioned, acceptable, least wanted
    if gzip_q > 0 and gzip_q >= (identity_q or 0.0):
        return "gzip"
    if identity_q is None or identity_q > 0:
        return "identity"
    return None


def wants_openmetrics(accept: str | None) -> bool:
    """OpenMetrics when the Accept header lists it (media types are case-insensitive) with a
    q-value above zero and at least that of text/plain; otherwise the text format."""
    types = parse_weighted(accept or "")
    openmetrics = types.get("application/openmetrics-text", 0.0)
    return openmetrics > 0 and openmetrics >= types.get("text/plain", 0.0)


class _DeadlineSocketIO(io.RawIOBase):
    """The connection as a raw stream whose every read and write is bounded by the current
    request's deadline, not only by the idle timeout (which a client that sends a byte every
    few seconds resets forever). No deadline: waiting for the next request on a kept-alive
    connection, bounded by the idle timeout alone."""

    def __init__(self, sock: socket.socket, idle_timeout: float) -> None:
        super().__init__()
        self.sock = sock
        self.idle_timeout = idle_timeout
        self.deadline: float | None = None
        # The end of what was written, short of a whole chunk: sent with the next write's
        # start, or by flush() (after each response).
        self._held = b""

    def remaining(self) -> float:
        if self.deadline is None:
            return self.idle_timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request deadline passed")
        return min(left, self.idle_timeout)

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        self.sock.settimeout(self.remaining())
        return self.sock.recv_into(buffer)

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Sends whole chunks and holds the rest for the next write or flush(): the header
        block and a body written in parts go out in as few sends as they fill. Sent apart, a
        body's first segment waits for the client's delayed ACK (~40 ms) wherever Nagle is on,
        and every send is a system call and a segment."""
        view = memoryview(data).cast("B")
        size = len(view)
        if self._held:
            need = _SEND_CHUNK - len(self._held)
            if size < need:
                self._held += view
                return size
            first, self._held = self._held + view[:need], b""
            self._send(first)
            view = view[need:]
        # In chunks, so a client that reads slowly is cut at the deadline too (a TLS socket's
        # sendall waits up to the timeout per send, not in total).
        whole = len(view) - len(view) % _SEND_CHUNK
        for offset in range(0, whole, _SEND_CHUNK):
            self._send(view[offset : offset + _SEND_CHUNK])
        self._held = bytes(view[whole:])
        return size

    def flush(self) -> None:
        """Sends what is held: the handler flushes after each response."""
        if self._held and not self.closed:
            held, self._held = self._held, b""
            self._send(held)

    def _send(self, data: bytes | memoryview) -> None:
        self.sock.settimeout(self.remaining())
        self.sock.sendall(data)


class _HeadBudget:
    """Hands the request's header lines to http.client.parse_headers, refusing (431) a header
    block larger than MAX_HEADER_BYTES in total."""

    def __init__(self, rfile: io.BufferedIOBase, budget: int) -> None:
        self._rfile = rfile
        self._budget = budget

    def readline(self, size: int = -1) -> bytes:
        limit = self._budget + 1 if size < 0 else min(size, self._budget + 1)
        line = self._rfile.readline(limit)
        self._budget -= len(line)
        if self._budget < 0:
            raise http.client.LineTooLong(f"header block over {MAX_HEADER_BYTES} bytes")
        return line


class ExporterHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        snapshot: Callable[[], Snapshot],
        readiness: Readiness,
        web_config: WebConfig | None = None,
        registry: CollectorRegistry | None = None,
        *,
        request_timeout: float = 30.0,
        max_connections: int = MAX_CONNECTIONS,
        telemetry_path: str = "/metrics",
        statuses: Statuses | None = None,
    ) -> None:
        """`registry` holds collectors served after the snapshot (e.g. process metrics).
        `request_timeout` bounds one request from its first byte (for a connection's first
        request: from the accept, TLS handshake included) to the end of its response.
        `telemetry_path` is where the metrics are served; `statuses` feeds the landing page."""
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.snapshot = snapshot
        self.registry = registry or CollectorRegistry(auto_describe=False)
        self.readiness = readiness
        self.telemetry_path = telemetry_path
        self.statuses: Statuses = statuses or tuple
        self.web_config = web_config or WebConfig()
        self.auth = BasicAuth(self.web_config.basic_auth_users)
        # /metrics bodies, rendered and compressed once per snapshot and format.
        self.rendered = RenderedSnapshots(snapshot)
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._last_busy_log = 0.0
        super().__init__(address, _Handler)
        tls = self.web_config.tls_server_config
        context = self.web_config.ssl_context(tls.cert_file) if tls is not None else None
        self.tls = context is not None
        if context is not None:
            # The handshake runs in the request thread, so one slow client cannot stall accept().
            self.socket = context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        thread.start()
        return thread

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse_busy(cast(socket.socket, request))
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse_busy(self, request: socket.socket) -> None:
        now = time.monotonic()
        if now - self._last_busy_log > 10:  # one line per 10 s, not one per connection
            self._last_busy_log = now
            log.warning(
                "too many connections: refusing new ones", extra={"limit": self.max_connections}
            )
        try:
            if not isinstance(request, ssl.SSLSocket):  # a TLS client cannot read plain text
                request.setblocking(False)
                request.send(_BUSY)
        except OSError:
            pass
        self.shutdown_request(request)

    def handle_error(self, request: object, client_address: object) -> None:
        # TLS handshake failures, timeouts and dropped connections are the client's business.
        log.debug("connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: ExporterHTTPServer
    server_version = f"acs-exporter/{__version__}"
    protocol_version = "HTTP/1.1"
    # Error answers to a request line without a version still carry a status line.
    default_request_version = "HTTP/1.0"
    raw_requestline: bytes

    def setup(self) -> None:
        self.connection = self.request
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self._io = _DeadlineSocketIO(self.connection, IDLE_TIMEOUT_SECONDS)
        self._io.deadline = time.monotonic() + self.server.request_timeout
        self._first_request = True
        self._refused = False
        self._response_started = False
        self._reader = io.BufferedReader(self._io, 65536)
        self.rfile = self._reader
        # Buffered in whole chunks by _DeadlineSocketIO.write, flushed after each response.
        self.wfile = cast(io.BufferedIOBase, self._io)
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.settimeout(self._io.remaining())
            if self._is_plain_http():
                self._answer_plain_http()
                self._refused = True
                return
            # Bounded in total by the timeout (CPython applies it to the whole handshake).
            self.connection.do_handshake()

    def _is_plain_http(self) -> bool:
        # Peek below TLS: a TLS client starts with a handshake record, an HTTP one with a
        # method name.
        first = socket.socket.recv(self.connection, 1, socket.MSG_PEEK)
        return bool(first) and first[0] != _TLS_HANDSHAKE_RECORD and first.isalpha()

    def _answer_plain_http(self) -> None:
        log.debug("plain HTTP on the TLS port", extra={"client": self.client_address[0]})
        raw = self.connection
        # Read the request head first: closing with unread data sends a reset, which can
        # destroy the answer before the client reads it.
        received = b""
        try:
            raw.settimeout(min(1.0, self._io.remaining()))
            while b"\r\n\r\n" not in received and len(received) < MAX_HEADER_BYTES:
                chunk = socket.socket.recv(raw, 65536)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass
        socket.socket.sendall(raw, PLAIN_HTTP_ON_TLS_PORT)

    def handle(self) -> None:
        if not self._refused:
            super().handle()

    def handle_one_request(self) -> None:
        if not self._first_request:
            # Kept alive: wait (idle timeout) for the next request's first byte, which starts
            # its deadline.
            self._io.deadline = None
            try:
                if not self._reader.peek(1):
                    self.close_connection = True
                    return
            except OSError:
                self.close_connection = True
                return
            self._io.deadline = time.monotonic() + self.server.request_timeout
        self._first_request = False
        self._response_started = False
        super().handle_one_request()
        if self._io.expired() and not self._response_started:
            self._answer_timeout()

    def _answer_timeout(self) -> None:
        """408 for a request still incomplete at its deadline, sent best-effort."""
        log.info(
            "request deadline passed",
            extra={"client": self.client_address[0], "seconds": self.server.request_timeout},
        )
        self.close_connection = True
        try:
            self.connection.settimeout(1.0)
            self.connection.sendall(
                b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            )
        except OSError:
            pass

    def parse_request(self) -> bool:
        rfile = self.rfile
        self.rfile = cast(io.BufferedReader, _HeadBudget(rfile, MAX_HEADER_BYTES))
        try:
            if not super().parse_request():
                return False
        finally:
            self.rfile = rfile
        if len(self.raw_requestline.split()) < 3:
            self.send_error(400, "HTTP/0.9 requests are not supported")
            return False
        # A body is never read: keeping the connection would parse it as the next request.
        if self.headers.get("Transfer-Encoding") or self.headers.get("Content-Length", "0") != "0":
            self.close_connection = True
        return True

    def send_response(self, code: int, message: str | None = None) -> None:
        self._response_started = True
        super().send_response(code, message)

    def end_headers(self) -> None:
        # Configured headers go on every answer, errors included (as in exporter-toolkit).
        for name, value in self.server.web_config.http_server_config.headers.items():
            self.send_header(name, value)
        super().end_headers()

    def do_GET(self) -> None:
        try:
            self._route()
        except Exception:
            if self._response_started:
                raise  # too late for an error answer; the connection is dropped and logged
            log.exception("handling %s failed", mask_url(self.path))
            self.close_connection = True
            self._send(500, b"internal error; see the exporter log\n")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _route(self) -> None:
        try:
            path = urlsplit(self.path).path
        except ValueError:
            self._send(400, b"malformed request target\n")
            return
        if path == "/healthz":
            self._send(200, b"ok\n")
        elif path == "/readyz":
            problems = self.server.readiness()
            if problems:
                self._send(503, ("not ready:\n" + "\n".join(problems) + "\n").encode())
            else:
                self._send(200, b"ready\n")
        elif path in (self.server.telemetry_path, "/"):
            if not self._authorised():
                return
            if path == "/":
                self._landing()
            else:
                self._metrics()
        else:
            self._send(404, f"not found; try {self.server.telemetry_path}\n".encode())

    def _landing(self) -> None:
        page = render_landing(
            __version__, self.server.telemetry_path, self.server.statuses(), time.time()
        )
        self._send(200, page.encode(), "text/html; charset=utf-8")

    def _credentials(self) -> tuple[str, str] | None:
        scheme, _, encoded = self.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except ValueError:  # not base64, not ASCII (binascii.Error), not UTF-8
            return None
        user, sep, password = decoded.partition(":")
        return (user, password) if sep else None

    def _authorised(self) -> bool:
        auth = self.server.auth
        if not auth.enabled:
            return True
        credentials = self._credentials()
        if credentials is not None and auth.check(*credentials):
            return True
        log.info(
            "unauthorised request",
            extra={
                "path": mask_url(self.path),  # a scraper's query may hold its API key
                "client": self.client_address[0],
                "given": "Authorization" in self.headers,
            },
        )
        self._send(
            401,
            b"Unauthorized\n",
            extra_headers={"WWW-Authenticate": 'Basic realm="acs-exporter", charset="UTF-8"'},
        )
        return False

    def _metrics(self) -> None:
        vary = {"Vary": "Accept, Accept-Encoding"}
        coding = choose_content_coding(self.headers.get("Accept-Encoding"))
        if coding is None:
            self._send(406, b"no acceptable content coding; gzip and identity exist\n", None, vary)
            return
        compress = coding == "gzip"
        try:
            if wants_openmetrics(self.headers.get("Accept")):
                content_type = OPENMETRICS
                # The registry's output ends with the one `# EOF` the format allows.
                trailer = generate_openmetrics(self.server.registry)
                body = self.server.rendered.body("openmetrics", compress, trailer)
            else:
                content_type = TEXT
                trailer = generate_text(self.server.registry)
                body = self.server.rendered.body("text", compress, trailer)
        except Exception:
            log.exception("rendering /metrics failed")
            self._send(500, b"internal error rendering metrics; see the exporter log\n")
            return
        headers = dict(vary)
        if compress:
            headers["Content-Encoding"] = "gzip"
        self._send(200, body, content_type, headers)

    def _send(
        self,
        status: int,
        body: bytes | tuple[bytes, ...],
        content_type: str | None = "text/plain; charset=utf-8",
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        """`body` may come in parts (the cached and the fresh part of a scrape), sent in order
        without being joined (a 3.6 MB copy per scrape)."""
        parts = (body,) if isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type or "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(sum(len(part) for part in parts)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            for part in parts:
                self.wfile.write(part)

    def log_message(self, format: str, *args: object) -> None:
        # The request line (and the errors quoting it) holds the target as sent: its query
        # may carry a scraper's API key (Prometheus `params:`), masked as mask_url does.
        log.debug("http %s", mask_urls(_TARGET_QUERY.sub(lambda m: mask_url(m[0]), format % args)))
