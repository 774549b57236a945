"""Bytes a Blob Storage client sent and received, counted at its HTTP transport.

The real SDK over the real transport (`RequestsTransport`), each request's body size and each
response's Content-Length recorded with the operation (`comp=` of the URL: `block`,
`blocklist`, ...), so a test or a benchmark can say what a commit or a refresh cost on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.pipeline.transport import RequestsTransport


@dataclass(frozen=True)
class Exchange:
    method: str
    operation: str  # the `comp` query parameter ("" for a plain blob GET or PUT)
    sent: int  # request body bytes
    received: int  # response body bytes (Content-Length)
    status: int


@dataclass
class Traffic:
    exchanges: list[Exchange] = field(default_factory=list)

    def mark(self) -> int:
        return len(self.exchanges)

    def since(self, mark: int) -> list[Exchange]:
        return self.exchanges[mark:]

    def sent_since(self, mark: int) -> int:
        return sum(e.sent for e in self.since(mark))

    def received_since(self, mark: int) -> int:
        return sum(e.received for e in self.since(mark))

    def writes_since(self, mark: int) -> list[Exchange]:
        return [e for e in self.since(mark) if e.method == "PUT"]


# azure.core's transport module exports it untyped (a lazy import): Any to mypy.
class CountingTransport(RequestsTransport):  # type: ignore[misc]
    def __init__(self, traffic: Traffic, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.traffic = traffic

    def send(self, request: Any, **kwargs: Any) -> Any:
        response = super().send(request, **kwargs)
        query = parse_qs(urlsplit(request.url).query)
        self.traffic.exchanges.append(
            Exchange(
                request.method,
                query.get("comp", [""])[0],
                _body_size(request),
                int(response.headers.get("Content-Length") or 0),
                response.status_code,
            )
        )
        return response


def _body_size(request: Any) -> int:
    declared = request.headers.get("Content-Length")
    if declared is not None:
        return int(declared)
    body = request.body
    return len(body) if isinstance(body, bytes | bytearray) else 0
