"""A local Azure Monitor metrics batch API: HTTPS on 127.0.0.1, the wire format the real
azure-monitor-querymetrics SDK sends and reads.

- POST /subscriptions/{id}/metrics:getBatch?api-version=..&metricnamespace=..&metricnames=..
  &starttime=..&endtime=..&interval=PT1M&aggregation=count&top=N&filter=D eq '*' and ..,
  body {"resourceids": [...]} (at most 50, one subscription); a bearer token is required.
- Answers as the REST reference and the migration guide's recorded samples show it:
  {"values": [{"starttime", "endtime", "interval", "namespace", "resourceregion",
  "resourceid", "value": [{"id", "type", "name": {"value", "localizedValue"}, "unit",
  "timeseries": [{"metadatavalues": [{"name": {"value", "localizedValue"}, "value"}],
  "data": [{"timeStamp", "count"}]}], "errorCode": "Success"}]}]}; errors as
  {"error": {"code", "message"}}.
- Events are added per (resource, metric, dimensions, minute) with the wall-clock (or test
  clock) time they become visible, so a minute's value can still grow after it ended, as the
  service's values do until they settle.
- Faults on demand: any status (429 with or without Retry-After, 5xx), connection resets,
  a malformed 200 body, a resource whose metric fails (`errorCode`), a resource left out.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import orjson
from azure.core.credentials import AccessToken
from tests.support.https_fake import HttpsFake, reset_connection

TOKEN = "fake-token-for-the-local-azure-metrics"
NAMESPACE = "microsoft.communication/communicationservices"
DIMENSIONS = {
    "acscallautomationcallbackevent": ("EventTypeName", "Code", "SubCode", "CodeClass", "Version"),
    "apirequestcallautomation": ("Operation", "StatusCode", "StatusCodeClass", "ApiVersion"),
}


class FakeCredential:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls = 0
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


@dataclass(frozen=True)
class Fault:
    kind: str  # status | reset | body | resource_error | omit
    status: int = 0
    retry_after: float | None = None
    payload: bytes = b""
    resource: str = ""

    @classmethod
    def http(cls, status: int, *, retry_after: float | None = None) -> Fault:
        return cls("status", status=status, retry_after=retry_after)

    @classmethod
    def throttle(cls, retry_after: float | None = None) -> Fault:
        return cls.http(429, retry_after=retry_after)


CHAOS_FAULTS = (
    Fault.throttle(0.05),
    Fault.throttle(),
    Fault.http(500),
    Fault.http(503),
    Fault("reset"),
)


@dataclass
class Stats:
    requests: int = 0
    calls: list[dict[str, Any]] = field(default_factory=list)  # query params + resource ids
    faults: dict[str, int] = field(default_factory=dict)
    internal_errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    reset: bool = False


def error_reply(status: int, code: str, message: str, **headers: str) -> Reply:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return Reply(status, body, {"Content-Type": "application/json", **headers})


def token_refused(headers: Mapping[str, str], token: str) -> Reply | None:
    """The 401 every Azure service answers without the right bearer token, else None."""
    if headers.get("authorization") != f"Bearer {token}":
        return error_reply(
            401, "InvalidAuthenticationToken", "The access token is missing or invalid."
        )
    return None


def fault_reply(fault: Fault) -> Reply:
    """The answer of a status, reset or body fault (as the Azure services send them)."""
    if fault.kind == "reset":
        return Reply(0, reset=True)
    if fault.kind == "body":
        return Reply(200, fault.payload, {"Content-Type": "application/json"})
    extra = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
    if fault.status == 429:
        return error_reply(429, "TooManyRequests", "Rate limit exceeded.", **extra)
    return error_reply(fault.status, "InternalServerError", "Something went wrong.", **extra)


def minute_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


class FakeAzureMetrics(HttpsFake):
    name = "fake-metrics"

    def __init__(self, *, clock: Callable[[], datetime] | None = None, token: str = TOKEN) -> None:
        super().__init__()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.token = token
        self.stats = Stats()
        self.faults: deque[Fault] = deque()
        self.chaos_rate = 0.0
        self._random = random.Random(0)
        self._lock = threading.Lock()
        # (resource lower, metric lower, dims tuple, minute) -> [(visible_at, n)]
        self._events: dict[
            tuple[str, str, tuple[tuple[str, str], ...], datetime], list[tuple[datetime, int]]
        ] = {}
        self.raw_series: dict[tuple[str, str], list[dict[str, Any]]] = {}  # injected as-is
        self.gone: set[str] = set()  # resources that no longer exist

    # --- data ---------------------------------------------------------------------------

    def add(
        self,
        resource: str,
        metric: str,
        dimensions: Mapping[str, str],
        minute: datetime,
        n: int = 1,
        *,
        visible_at: datetime | None = None,
    ) -> None:
        key = (
            resource.lower(),
            metric.lower(),
            tuple(sorted(dimensions.items())),
            minute_of(minute),
        )
        with self._lock:
            self._events.setdefault(key, []).append((visible_at or minute, n))

    # --- server -------------------------------------------------------------------------

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return make_handler(self)

    # --- one request --------------------------------------------------------------------

    def handle(self, target: str, headers: Mapping[str, str], raw: bytes) -> Reply:
        """A request whose bearer token is right (make_handler checks it)."""
        url = urlsplit(target)
        parts = url.path.split("/")
        if len(parts) != 4 or parts[1] != "subscriptions" or parts[3] != "metrics:getBatch":
            return error_reply(404, "NotFound", f"no such path {url.path}")
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        problem = self._check(parts[2], params, raw)
        if isinstance(problem, Reply):
            return problem
        fault = self._fault()
        if fault is not None and fault.kind in ("status", "reset", "body"):
            return fault_reply(fault)
        with self._lock:
            self.stats.calls.append({**params, "resourceids": problem})
        return self._answer(problem, params, fault)

    def _check(self, subscription: str, params: Mapping[str, str], raw: bytes) -> Reply | list[str]:
        required = ("api-version", "metricnamespace", "metricnames", "starttime", "endtime")
        missing = [p for p in required if p not in params]
        if missing:
            return error_reply(400, "BadRequest", f"missing query parameter(s) {missing}")
        if params["metricnamespace"].lower() != NAMESPACE:
            return error_reply(400, "BadRequest", f"unknown namespace {params['metricnamespace']}")
        if params.get("interval") != "PT1M" or params.get("aggregation", "").lower() != "count":
            return error_reply(
                400, "BadRequest", "this fake serves interval PT1M, aggregation count"
            )
        try:
            body = orjson.loads(raw)
            resources = body["resourceids"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return error_reply(400, "BadRequest", 'body must be {"resourceids": [...]}')
        if not isinstance(resources, list) or not 1 <= len(resources) <= 50:
            return error_reply(400, "BadRequest", "between 1 and 50 resourceids per call")
        for resource in resources:
            if not resource.lower().startswith(f"/subscriptions/{subscription.lower()}/"):
                return error_reply(
                    400, "BadRequest", f"{resource} is not in subscription {subscription}"
                )
        names = unquote(params["metricnames"]).split(",")
        if len(names) != 1 or names[0].lower() not in DIMENSIONS:
            return error_reply(400, "BadRequest", f"unknown metric(s) {names}")
        return list(resources)

    def _fault(self) -> Fault | None:
        with self._lock:
            self.stats.requests += 1
            if self.faults:
                fault = self.faults.popleft()
            elif self.chaos_rate and self._random.random() < self.chaos_rate:
                fault = self._random.choice(CHAOS_FAULTS)
            else:
                return None
            self.stats.faults[fault.kind] = self.stats.faults.get(fault.kind, 0) + 1
            return fault

    def _answer(
        self, resources: Sequence[str], params: Mapping[str, str], fault: Fault | None
    ) -> Reply:
        metric = unquote(params["metricnames"])
        start = datetime.fromisoformat(params["starttime"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(params["endtime"].replace("Z", "+00:00"))
        now = self.clock()
        values = []
        for resource in resources:
            if resource.lower() in self.gone or (
                fault and fault.kind == "omit" and fault.resource == resource.lower()
            ):
                continue
            entry = self._resource_entry(resource, metric, start, end, now)
            if fault and fault.kind == "resource_error" and fault.resource == resource.lower():
                entry["value"][0].update(
                    errorCode="ResourceNotFound",
                    errorMessage=f"The resource {resource} was not found.",
                )
                entry["value"][0]["timeseries"] = []
            values.append(entry)
        return Reply(200, orjson.dumps({"values": values}), {"Content-Type": "application/json"})

    def _resource_entry(
        self, resource: str, metric: str, start: datetime, end: datetime, now: datetime
    ) -> dict[str, Any]:
        series: dict[tuple[tuple[str, str], ...], dict[datetime, int]] = {}
        with self._lock:
            for (res, name, dims, minute), arrivals in self._events.items():
                if res == resource.lower() and name == metric.lower() and start <= minute < end:
                    n = sum(count for at, count in arrivals if at <= now)
                    if n:
                        series.setdefault(dims, {})[minute] = (
                            series.get(dims, {}).get(minute, 0) + n
                        )
            raw = list(self.raw_series.get((resource.lower(), metric.lower()), []))
        timeseries = [
            _timeseries(dims, points, start, end) for dims, points in sorted(series.items())
        ]
        return {
            "starttime": _iso(start),
            "endtime": _iso(end),
            "interval": "PT1M",
            "namespace": NAMESPACE,
            "resourceregion": "westeurope",
            "resourceid": resource,
            "value": [
                {
                    "id": f"{resource}/providers/Microsoft.Insights/metrics/{metric}",
                    "type": "Microsoft.Insights/metrics",
                    "name": {"value": metric, "localizedValue": metric},
                    "displayDescription": "Count of the Communication Call Automation events.",
                    "unit": "Count",
                    "timeseries": timeseries + raw,
                    "errorCode": "Success",
                }
            ],
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _timeseries(
    dims: tuple[tuple[str, str], ...],
    points: Mapping[datetime, int],
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    data = []
    minute = start
    while minute < end:
        # As the service does: every minute of the window, `count` 0 where nothing happened.
        data.append({"timeStamp": _iso(minute), "count": float(points.get(minute, 0))})
        minute += timedelta(minutes=1)
    meta = [{"name": {"value": k.lower(), "localizedValue": k}, "value": v} for k, v in dims]
    return {"metadatavalues": meta, "data": data}


class Handles(Protocol):
    """A fake whose requests this module's handler serves (the metrics API, ARM: fake_arm.py)."""

    stats: Stats | Any
    token: str

    def handle(self, target: str, headers: Mapping[str, str], raw: bytes) -> Reply: ...


def make_handler(server: Handles) -> type[BaseHTTPRequestHandler]:
    """The request handler of a fake: GET and POST go to `server.handle`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                headers = {k.lower(): v for k, v in self.headers.items()}
                refused = token_refused(headers, server.token)
                reply = refused or server.handle(self.path, headers, raw)
            except Exception as error:  # a bug in the fake must show, not hang the client
                server.stats.internal_errors.append(repr(error))
                reply = error_reply(500, "InternalServerError", repr(error))
            if reply.reset:
                reset_connection(self)
                return
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST  # ARM's list calls (fake_arm.py): no body

    return Handler
