"""What every local fake Azure service needs: HTTPS on 127.0.0.1 with a certificate from a
test CA (clients trust it through `tls_ca_file`), served from a daemon thread, and a way to
drop a connection with a TCP reset, as a broken connection looks to the client."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

import trustme


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-answer (a SIGKILLed exporter, the SDK's read timeout) is
        # what the chaos tests do on purpose: no traceback for it. Anything else still prints.
        if isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLEOFError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def serve_https(
    ca: trustme.CA, handler: type[BaseHTTPRequestHandler], name: str
) -> ThreadingHTTPServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    httpd = _Server(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, name=name, daemon=True).start()
    return httpd


def https_url(httpd: ThreadingHTTPServer) -> str:
    host, port = httpd.server_address[:2]
    return f"https://{host!s}:{port}"


def reset_connection(handler: BaseHTTPRequestHandler) -> None:
    """SO_LINGER 0, then close: the client sees a TCP RST."""
    with contextlib.suppress(OSError):
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()
    handler.close_connection = True


class HttpsFake:
    """A local fake service: its CA and certificate (`ca_file`, in a temporary directory the
    fake may use too), `url`, `start()` / `stop()` or a `with` block. Subclasses give their
    request handler (`handler()`) and may release more in `closed()`."""

    name = "fake"

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix=f"{self.name}-")
        self._ca = trustme.CA()
        self.ca_file = Path(self._tmp.name) / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))
        self._httpd: ThreadingHTTPServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def closed(self) -> None:
        """Called by stop(), after the server stopped."""

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return https_url(self._httpd)

    def start(self) -> Self:
        self._httpd = serve_https(self._ca, self.handler(), self.name)
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self.closed()
        self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
