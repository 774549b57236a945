"""What every local fake Azure service needs: HTTPS on 127.0.0.1 with a certificate from a
test CA (clients trust it through `tls_ca_file`), served from a daemon thread, and a way to
drop a connection with a TCP reset, as a broken connection looks to the client."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import trustme


def serve_https(
    ca: trustme.CA, handler: type[BaseHTTPRequestHandler], name: str
) -> ThreadingHTTPServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
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
