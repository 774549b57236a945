"""HTTP endpoints: /metrics, /healthz, /readyz and a landing page, with optional TLS and auth.

Basic auth (when configured) guards /metrics and the landing page; /healthz and /readyz stay
open so that kubelet probes work without credentials; they reveal no counts and no secrets.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import html
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest as generate_text
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics import exposition as openmetrics_exposition

from acs_exporter import __version__
from acs_exporter.exposition import OPENMETRICS, TEXT, render_openmetrics, render_text
from acs_exporter.snapshot import Snapshot
from acs_exporter.webconfig import BasicAuth, WebConfig

log = logging.getLogger("acs_exporter.web")

# Untyped in prometheus_client.
generate_openmetrics = cast(
    Callable[[CollectorRegistry], bytes], openmetrics_exposition.generate_latest
)

# Answers a readiness question: an empty list means ready, otherwise what is still missing.
Readiness = Callable[[], list[str]]

LANDING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>acs-exporter</title></head>
<body>
<h1>acs-exporter {version}</h1>
<p>Prometheus exporter for Azure Communication Services call end reasons.</p>
<ul>
<li><a href="metrics">/metrics</a>: the metrics</li>
<li><a href="healthz">/healthz</a>: the process is alive</li>
<li><a href="readyz">/readyz</a>: every source has been read successfully once</li>
</ul>
</body></html>
"""


class ExporterHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        snapshot: Callable[[], Snapshot],
        readiness: Readiness,
        web_config: WebConfig | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        """`registry` holds collectors served after the snapshot (e.g. process metrics)."""
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.snapshot = snapshot
        self.registry = registry or CollectorRegistry(auto_describe=False)
        self.readiness = readiness
        self.web_config = web_config or WebConfig()
        self.auth = BasicAuth(self.web_config.basic_auth_users)
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

    def handle_error(self, request: object, client_address: object) -> None:
        # TLS handshake failures and dropped connections are the client's business.
        log.debug("connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: ExporterHTTPServer
    server_version = f"acs-exporter/{__version__}"
    protocol_version = "HTTP/1.1"
    timeout = 30  # a client that sends nothing frees its thread

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/healthz":
            self._send(200, b"ok\n")
        elif path == "/readyz":
            problems = self.server.readiness()
            if problems:
                self._send(503, ("not ready:\n" + "\n".join(problems) + "\n").encode())
            else:
                self._send(200, b"ready\n")
        elif path in ("/metrics", "/"):
            if not self._authorised():
                return
            if path == "/":
                page = LANDING.format(version=html.escape(__version__)).encode()
                self._send(200, page, "text/html; charset=utf-8")
            else:
                self._metrics()
        else:
            self._send(404, b"not found; try /metrics\n")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _authorised(self) -> bool:
        auth = self.server.auth
        if not auth.enabled:
            return True
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, sep, password = (
                    base64.b64decode(encoded, validate=True).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                sep = ""
            if sep and auth.check(user, password):
                return True
        log.info(
            "unauthorised request",
            extra={"path": self.path, "client": self.client_address[0], "given": bool(header)},
        )
        self._send(
            401,
            b"Unauthorized\n",
            extra_headers={"WWW-Authenticate": 'Basic realm="acs-exporter", charset="UTF-8"'},
        )
        return False

    def _metrics(self) -> None:
        _, negotiated = choose_encoder(self.headers.get("Accept", ""))
        try:
            snapshot = self.server.snapshot()
            if negotiated.startswith("application/openmetrics-text"):
                content_type = OPENMETRICS
                # The registry's output ends with the one `# EOF` the format allows.
                body = render_openmetrics(snapshot).encode() + generate_openmetrics(
                    self.server.registry
                )
            else:
                content_type = TEXT
                body = render_text(snapshot).encode() + generate_text(self.server.registry)
        except Exception:
            log.exception("rendering /metrics failed")
            self._send(500, b"internal error rendering metrics; see the exporter log\n")
            return
        headers = {}
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        self._send(200, body, content_type, headers)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {
            **self.server.web_config.http_server_config.headers,
            **(extra_headers or {}),
        }.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("http %s", format % args)
