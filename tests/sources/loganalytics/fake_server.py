"""A local Log Analytics query API: HTTPS on 127.0.0.1, the real wire format, real KQL.

- POST /v1/workspaces/{id}/query and the resource-centric POST /v1{resourceId}/query, body
  {"query", "timespan", "workspaces"}; answers {"tables": [{"name", "columns", "rows"}]}.
- Every query is checked by Microsoft's Kusto language service (400 + error object otherwise),
  then executed on fixture tables with duckdb-kql. Ingestion time is a hidden column
  (`_IngestedAt`); `ingestion_time()` is rewritten to it. A record is visible only once the
  server's clock has passed its ingestion time, so late arrivals behave as in Azure.
- `timespan` is intersected with TimeGenerated, as the service does; `workspaces` unions more
  workspaces into the query; `Prefer: wait=N` is the server timeout (504 beyond it).
- Faults on demand: any status (429 with or without Retry-After, 5xx, 401, 403), PartialError
  with tables, a malformed 200 body, connection resets before or in the middle of a response,
  slowness, result truncation (row limit, reported like the service: PartialError
  E_QUERY_RESULT_SET_TOO_LARGE).
- A bearer token is required (401 without one, 403 for a wrong one); `FakeCredential` hands it
  out, so the real BearerTokenCredentialPolicy runs in the client.
- Errors have the service's recorded shape (azure-sdk-for-python's test recordings and the
  API's error documentation): `{"error": {"message", "code", "correlationId", "innererror":
  {"code", "message", "innererror": ...}}}`, e.g. BadArgumentError / SemanticError / SEM0100.
  Every error body sent is kept in `stats.errors`, so tests can look for its correlationId.
- Access can be denied per workspace, resource or table (`deny`): 403 InsufficientAccessError
  until `allow`, as while a role assignment is missing or still propagating.
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip
import random
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import duckdb
import duckdb_kql
import orjson
from azure.core.credentials import AccessToken
from tests.support.https_fake import HttpsFake, reset_connection

from .kusto import KustoChecker

TOKEN = "fake-token-for-the-local-log-analytics"
ROW_LIMIT = 500_000
_DUCK_TYPES = {
    "datetime": "TIMESTAMP",
    "string": "VARCHAR",
    "int": "INTEGER",
    "long": "BIGINT",
    "real": "DOUBLE",
    "bool": "BOOLEAN",
}


class FakeCredential:
    """A TokenCredential for the local server; records the scopes it was asked for."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour. Build with the class methods."""

    kind: str  # status | partial | reset | reset_midbody | slow | truncate | no_data | body | date
    status: int = 0
    retry_after: float | None = None
    delay: float = 0.0
    code: str = ""
    payload: bytes = b""
    date_header: str | None = None

    @classmethod
    def http(cls, status: int, *, retry_after: float | None = None, code: str = "") -> Fault:
        return cls("status", status=status, retry_after=retry_after, code=code)

    @classmethod
    def throttle(cls, retry_after: float | None = None) -> Fault:
        return cls.http(429, retry_after=retry_after, code="TooManyRequests")

    @classmethod
    def semantic(cls) -> Fault:
        """The recorded 400: BadArgumentError / SemanticError / SEM0100."""
        return cls("semantic", status=400)

    @classmethod
    def partial(cls) -> Fault:
        return cls("partial")

    @classmethod
    def reset(cls) -> Fault:
        return cls("reset")

    @classmethod
    def reset_midbody(cls) -> Fault:
        return cls("reset_midbody")

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls("slow", delay=seconds)

    @classmethod
    def truncate(cls) -> Fault:
        return cls("truncate")

    @classmethod
    def no_data(cls) -> Fault:
        return cls("no_data")

    @classmethod
    def date(cls, text: str | None) -> Fault:
        """The result as usual, with this `Date` header instead of the server's clock (None:
        no Date header at all, as behind a proxy that drops it)."""
        return cls("date", date_header=text)

    @classmethod
    def malformed(cls, payload: bytes) -> Fault:
        """HTTP 200 with this body instead of the result (a malformed response)."""
        return cls("body", payload=payload)


CHAOS_FAULTS: tuple[Fault, ...] = (
    Fault.throttle(retry_after=0.05),
    Fault.throttle(),
    Fault.http(500),
    Fault.http(502),
    Fault.http(503),
    Fault.http(504),
    Fault.partial(),
    Fault.reset(),
    Fault.reset_midbody(),
    Fault.slow(0.3),
    Fault.truncate(),
)


@dataclass
class Stats:
    requests: int = 0
    queries_executed: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    prefer: list[str | None] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    internal_errors: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # error objects sent, in order
    gzipped: int = 0  # 200 responses sent gzip-encoded and chunked


class QueryError(Exception):
    def __init__(
        self, status: int, code: str, message: str, inner: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.inner = inner


def _error(code: str, message: str, inner: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An error body as the service writes it: message, code, a fresh correlationId, and the
    engine's reasons nested in `innererror`."""
    body: dict[str, Any] = {"message": message, "code": code, "correlationId": str(uuid.uuid4())}
    if inner is not None:
        body["innererror"] = dict(inner)
    return {"error": body}


def _inner(code: str, message: str, inner: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if inner is not None:
        body["innererror"] = dict(inner)
    return body


def semantic_error(message: str, code: str = "SEM0100") -> QueryError:
    """A query the engine cannot run, as recorded: BadArgumentError / SemanticError / SEMnnnn."""
    return QueryError(
        400,
        "BadArgumentError",
        "The request had some invalid properties",
        _inner("SemanticError", "A semantic error occurred.", _inner(code, message)),
    )


def insufficient_access(what: str) -> dict[str, Any]:
    """403 while the identity lacks read access (the API's documented body)."""
    return _error(
        "InsufficientAccessError",
        "The provided credentials have insufficient access to perform the requested operation",
        _inner(
            "UnauthorizedClient",
            f"The service principal does not have sufficient permissions to access this "
            f"resource: {what}",
        ),
    )


def _kusto_datetime(value: datetime) -> str:
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond:06d}0Z"


def _parse_iso(text: str) -> datetime:
    value = text.strip().replace("Z", "+00:00")
    # Python's fromisoformat takes up to 6 fractional digits; the 7th is below its precision.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?$")


def _parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match or text in {"P", "PT"}:
        raise ValueError(f"invalid ISO-8601 duration {text!r}")
    days, hours, minutes, seconds = match.groups()
    return timedelta(
        days=int(days or 0),
        hours=int(hours or 0),
        minutes=int(minutes or 0),
        seconds=float(seconds or 0),
    )


def parse_timespan(text: str, now: datetime) -> tuple[datetime, datetime]:
    """'start/end', 'start/duration', 'duration/end' or 'duration' (ending now)."""
    if "/" not in text:
        return now - _parse_duration(text), now
    first, second = text.split("/", 1)
    if first.startswith("P"):
        end = _parse_iso(second)
        return end - _parse_duration(first), end
    start = _parse_iso(first)
    if second.startswith("P"):
        return start, start + _parse_duration(second)
    return start, _parse_iso(second)


class FakeLogAnalytics(HttpsFake):
    """Start with `start()` (or as a context manager); `url`, `ca_file` to connect."""

    name = "fake-la"

    def __init__(
        self,
        checker: KustoChecker,
        *,
        clock: Callable[[], datetime] | None = None,
        row_limit: int = ROW_LIMIT,
        cache_responses: bool = False,
        token: str = TOKEN,
        visible_after: timedelta = timedelta(0),
        spread_visibility: bool = False,
    ) -> None:
        super().__init__()
        self.checker = checker
        # A record becomes queryable `visible_after` after its ingestion time (each one a
        # different share of it, from 0, with `spread_visibility`), as an ingestion that
        # commits after stamping its records: what the exporter's safety_lag is for.
        self.visible_after = visible_after
        self.spread_visibility = spread_visibility
        self.tables = checker.tables  # what the checker knows, the server holds
        self.clock = clock or (lambda: datetime.now(UTC))
        self.row_limit = row_limit
        self.cache_responses = cache_responses
        self.token = token
        self.stats = Stats()
        self.faults: deque[Fault] = deque()
        self.chaos_rate = 0.0
        self.chaos_faults: Sequence[Fault] = CHAOS_FAULTS
        self._random = random.Random(0)
        self._lock = threading.Lock()  # duckdb connection + stats
        self._db = duckdb_kql.connect()
        self._workspaces: list[str] = []
        self._resources: dict[str, str] = {}
        self._denied: set[str] = set()
        self._cache: dict[bytes, bytes] = {}
        self._gzip_cache: dict[bytes, bytes] = {}

    # --- fixtures ---------------------------------------------------------------------------

    def add_workspace(self, workspace_id: str, *, resource_ids: Iterable[str] = ()) -> None:
        with self._lock:
            if workspace_id not in self._workspaces:
                self._workspaces.append(workspace_id)
                for table, columns in self.tables.items():
                    ddl = ", ".join(f'"{c}" {_DUCK_TYPES[t]}' for c, t in columns)
                    self._db.execute(
                        f'CREATE TABLE "{self._table(workspace_id, table)}" '
                        f"({ddl}, _IngestedAt TIMESTAMP)"
                    )
            for resource in resource_ids:
                self._resources[resource.lower()] = workspace_id

    def add_records(
        self, workspace_id: str, table: str, records: Sequence[Mapping[str, Any]]
    ) -> None:
        """Each record: column values (missing ones are null) plus `_IngestedAt` (a datetime)."""
        if not records:
            return
        columns = [*(c for c, _ in self.tables[table]), "_IngestedAt"]
        types = {c: _DUCK_TYPES[t] for c, t in self.tables[table]} | {"_IngestedAt": "TIMESTAMP"}
        path = Path(self._tmp.name) / "rows.jsonl"
        with path.open("wb") as out:
            for record in records:
                row = {c: record.get(c) for c in columns}
                for c, v in row.items():
                    if isinstance(v, datetime):
                        row[c] = v.astimezone(UTC).replace(tzinfo=None).isoformat()
                out.write(orjson.dumps(row) + b"\n")
        spec = "{" + ", ".join(f"'{c}': '{types[c]}'" for c in columns) + "}"
        with self._lock:
            self._db.execute(
                f'INSERT INTO "{self._table(workspace_id, table)}" '
                f"SELECT {', '.join(repr(c).replace(chr(39), chr(34)) for c in columns)} "
                f"FROM read_json('{path}', format='newline_delimited', columns={spec})"
            )
            self._cache.clear()
            self._gzip_cache.clear()

    def insert_generated(self, workspace_id: str, table: str, select_sql: str) -> None:
        """Bulk fixtures for benchmarks: INSERT the rows of a DuckDB SELECT (all columns, in
        `tables` order, then `_IngestedAt`)."""
        with self._lock:
            self._db.execute(f'INSERT INTO "{self._table(workspace_id, table)}" {select_sql}')
            self._cache.clear()
            self._gzip_cache.clear()

    def gzipped(self, body: bytes) -> bytes:
        """`body` gzip-encoded; with `cache_responses` a cached response is compressed once, so
        benchmarks time the client's decompression, not the server's compression."""
        with self._lock:
            self.stats.gzipped += 1
            compressed = self._gzip_cache.get(body) if self.cache_responses else None
        if compressed is None:
            compressed = gzip.compress(body, compresslevel=1)
            if self.cache_responses:
                with self._lock:
                    self._gzip_cache[body] = compressed
        return compressed

    def _visible_at(self) -> str:
        """SQL for the time a row becomes queryable."""
        lag = int(self.visible_after / timedelta(microseconds=1))
        if lag == 0:
            return "_IngestedAt"
        if not self.spread_visibility:
            return f"(_IngestedAt + to_microseconds({lag}))"
        return f"(_IngestedAt + to_microseconds((hash(_IngestedAt) % {lag})::BIGINT))"

    @staticmethod
    def _table(workspace_id: str, table: str) -> str:
        return f"ws_{workspace_id}__{table}"

    # --- faults -----------------------------------------------------------------------------

    def deny(self, *keys: str) -> None:
        """Answer 403 InsufficientAccessError to every query of these workspace ids, resource ids
        or tables (a query naming the table) until `allow`: a missing role assignment."""
        with self._lock:
            self._denied.update(k.lower() for k in keys)

    def allow(self, *keys: str) -> None:
        with self._lock:
            self._denied.difference_update(k.lower() for k in keys)

    def _denial(self, path: str, query: str) -> str | None:
        with self._lock:
            denied = set(self._denied)
        middle = path.split("?", 1)[0][len("/v1") : -len("/query")]
        for key in denied:
            if middle.lower() in (key, f"/workspaces/{key}") or re.search(
                rf"\b{re.escape(key)}\b", query.lower()
            ):
                return key
        return None

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each is used by one request, in order."""
        self.faults.extend(faults)

    def set_chaos(
        self, rate: float, *, seed: int = 0, faults: Sequence[Fault] = CHAOS_FAULTS
    ) -> None:
        """From now on, each request fails with probability `rate` with a random fault."""
        self.chaos_rate = rate
        self.chaos_faults = faults
        self._random = random.Random(seed)

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if self.faults:
                fault = self.faults.popleft()
            elif self.chaos_rate and self._random.random() < self.chaos_rate:
                fault = self._random.choice(list(self.chaos_faults))
            else:
                return None
            name = fault.kind if fault.kind != "status" else str(fault.status)
            self.stats.faults[name] = self.stats.faults.get(name, 0) + 1
            return fault

    # --- execution --------------------------------------------------------------------------

    def execute(
        self,
        workspace_ids: Sequence[str],
        query: str,
        timespan: str | None,
        row_limit: int | None = None,
    ) -> tuple[dict[str, Any] | None, bool]:
        """(response body or None for 204, truncated?). Raises QueryError like the service."""
        analysis = self.checker.analyze(query)
        if analysis.errors:
            first = analysis.errors[0]
            raise semantic_error(first.describe(query), first.code)
        now = self.clock()
        bounds = parse_timespan(timespan, now) if timespan else None
        sql_query = query.replace("ingestion_time()", "_IngestedAt")
        limit = self.row_limit if row_limit is None else row_limit
        with self._lock:
            for table in self.tables:
                parts = []
                for ws in workspace_ids:
                    stamp = now.replace(tzinfo=None).isoformat()
                    where = [f"{self._visible_at()} <= TIMESTAMP '{stamp}'"]
                    if bounds:
                        lo, hi = (
                            b.astimezone(UTC).replace(tzinfo=None).isoformat() for b in bounds
                        )
                        where.append(f"TimeGenerated >= TIMESTAMP '{lo}'")
                        where.append(f"TimeGenerated <= TIMESTAMP '{hi}'")
                    parts.append(
                        f'SELECT * FROM "{self._table(ws, table)}" WHERE {" AND ".join(where)}'
                    )
                self._db.execute(
                    f'CREATE OR REPLACE TEMP VIEW "{table}" AS {" UNION ALL ".join(parts)}'
                )
            has_data = any(
                self._db.execute(f'SELECT count(*) FROM "{self._table(ws, t)}"').fetchone() != (0,)
                for ws in workspace_ids
                for t in self.tables
            )
            if not has_data:
                return None, False
            try:
                relation = duckdb_kql.query(self._db, sql_query)
                rows = relation.limit(limit + 1).fetchall()
                # A relation asks its connection for its columns: read them under the lock too
                # (the connection refuses a second thread with "connection is busy").
                columns = list(relation.columns)
            except (duckdb.Error, duckdb_kql.KqlError) as error:
                raise semantic_error(f"query could not be executed: {error}") from error
            self.stats.queries_executed += 1
        truncated = len(rows) > limit
        rows = rows[:limit]
        names = [c for c, _ in analysis.columns]
        # The hidden ingestion-time column leaks through queries without a `project`: drop it.
        got = [c for c in columns if c != "_IngestedAt"]
        if got != names:
            raise QueryError(500, "InternalServerError", f"column mismatch {got} != {names}")
        keep = [i for i, c in enumerate(columns) if c != "_IngestedAt"]
        if len(keep) != len(columns):
            rows = [tuple(row[i] for i in keep) for row in rows]
        types = [t for _, t in analysis.columns]
        converters = [_converter(t) for t in types]
        out_rows = [[conv(v) for conv, v in zip(converters, row, strict=True)] for row in rows]
        primary: dict[str, Any] = {
            "name": "PrimaryResult",
            "columns": [{"name": n, "type": t} for n, t in analysis.columns],
            "rows": out_rows,
        }
        return {"tables": [primary]}, truncated

    # --- server -----------------------------------------------------------------------------

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    def closed(self) -> None:
        self._db.close()

    # --- one request ------------------------------------------------------------------------

    def handle(self, path: str, headers: Mapping[str, str], raw: bytes) -> _Reply:
        workspace_id = self._route(path)
        authorization = headers.get("authorization")
        if authorization is None:
            return _Reply.json(
                401,
                _error(
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing.",
                ),
            )
        if authorization != f"Bearer {self.token}":
            return _Reply.json(
                403, _error("InvalidAuthenticationToken", "The access token is invalid.")
            )
        if workspace_id is None:
            return _Reply.json(
                404, _error("PathNotFoundError", "The requested path does not exist")
            )
        try:
            body = orjson.loads(raw)
            query = body["query"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _Reply.json(400, _error("BadArgumentError", "The request body is not valid."))
        with self._lock:
            self.stats.bodies.append(body)
            self.stats.prefer.append(headers.get("prefer"))
            self.stats.paths.append(path)
        extra = body.get("workspaces") or []
        unknown = [ws for ws in extra if ws not in self._workspaces]
        if unknown:
            return _Reply.json(403, insufficient_access(unknown[0]))
        denied = self._denial(path, str(query))
        if denied is not None:
            return _Reply.json(403, insufficient_access(denied))
        wait = _prefer_wait(headers.get("prefer"))
        fault = self._next_fault()
        if fault is not None:
            reply = self._fault_reply(fault, wait)
            if reply is not None:
                return reply
        cache_key = orjson.dumps([workspace_id, body])
        if self.cache_responses and cache_key in self._cache:
            return _Reply(
                200, {"Content-Type": "application/json; charset=utf-8"}, self._cache[cache_key]
            )
        try:
            result, truncated = self.execute(
                [workspace_id, *extra],
                query,
                body.get("timespan"),
                row_limit=0 if fault is not None and fault.kind == "truncate" else None,
            )
        except QueryError as error:
            return _Reply.json(error.status, _error(error.code, error.message, error.inner))
        if result is None:
            return _dated(_Reply(204, {}, b""), fault)
        if truncated or (fault is not None and fault.kind == "truncate"):
            result["error"] = _partial_error(_truncation(self.row_limit))
        elif fault is not None and fault.kind == "partial":
            rows = result["tables"][0]["rows"]
            del rows[len(rows) // 2 :]
            result["error"] = _partial_error(_LOW_MEMORY)
        payload = orjson.dumps(result)
        if self.cache_responses and "error" not in result:
            self._cache[cache_key] = payload
        return _dated(
            _Reply(200, {"Content-Type": "application/json; charset=utf-8"}, payload), fault
        )

    def _fault_reply(self, fault: Fault, wait: float) -> _Reply | None:
        if fault.kind == "status":
            headers: dict[str, str] = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            if fault.status == 403 and not fault.code:
                return _Reply.json(403, insufficient_access("the workspace"), headers)
            if fault.status == 504 and not fault.code:
                headers["Preference-Applied"] = f"wait={wait:g}"
                return _Reply.json(504, _gateway_timeout(), headers)
            messages = {
                401: "Authentication failed. The 'Authorization' header is missing.",
                500: "Unexpected error occurred",
                429: "Too many requests; the limit is 200 requests per 30 seconds per user.",
            }
            code = fault.code or {
                401: "AuthenticationFailed",
                429: "TooManyRequests",
                500: "InternalServerFault",
                502: "BadGateway",
                503: "ServiceUnavailable",
                504: "GatewayTimeout",
            }.get(fault.status, "Error")
            message = messages.get(fault.status, f"Injected failure {fault.status}")
            return _Reply.json(fault.status, _error(code, message), headers)
        if fault.kind == "slow":
            time.sleep(min(fault.delay, wait))
            if fault.delay > wait:
                return _Reply.json(
                    504, _gateway_timeout(), {"Preference-Applied": f"wait={wait:g}"}
                )
            return None
        if fault.kind == "semantic":
            error = semantic_error(
                "'where' operator: Failed to resolve table or column expression named "
                "'ACSCallSummary'"
            )
            return _Reply.json(400, _error(error.code, error.message, error.inner))
        if fault.kind == "reset":
            return _Reply(0, {}, b"", reset=True)
        if fault.kind == "no_data":
            return _Reply(204, {}, b"")
        if fault.kind == "body":
            return _Reply(200, {"Content-Type": "application/json; charset=utf-8"}, fault.payload)
        if fault.kind == "reset_midbody":
            return _Reply(200, {"Content-Type": "application/json"}, b"", reset_midbody=True)
        return None  # partial / truncate: applied to the executed result

    def _route(self, path: str) -> str | None:
        path = path.split("?", 1)[0]
        if not path.startswith("/v1/") or not path.endswith("/query"):
            return None
        middle = path[len("/v1") : -len("/query")]
        if middle.startswith("/workspaces/"):
            ws = middle[len("/workspaces/") :]
            return ws if ws in self._workspaces else None
        return self._resources.get(middle.lower())


@dataclass
class _Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    reset: bool = False
    reset_midbody: bool = False
    # The `Date` header: True is the server's clock (as the service sends its own), False
    # none, a string that text.
    date: str | bool = True

    @classmethod
    def json(cls, status: int, body: Any, headers: Mapping[str, str] | None = None) -> _Reply:
        return cls(
            status,
            {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
            orjson.dumps(body),
        )


def _dated(reply: _Reply, fault: Fault | None) -> _Reply:
    """The reply with the `Date` header a `Fault.date` asks for."""
    if fault is not None and fault.kind == "date":
        reply.date = False if fault.date_header is None else fault.date_header
    return reply


def _gateway_timeout() -> dict[str, Any]:
    """The recorded 504 after `Prefer: wait` ran out."""
    return _error(
        "GatewayTimeout", "Gateway timeout", _inner("GatewayTimeout", "ADX query timed out")
    )


def _prefer_wait(prefer: str | None) -> float:
    default = 180.0
    if not prefer:
        return default
    for part in prefer.split(","):
        name, _, value = part.strip().partition("=")
        if name == "wait":
            with contextlib.suppress(ValueError):
                return float(value)
    return default


def _partial_error(inner: Mapping[str, Any]) -> dict[str, Any]:
    """The error object of an HTTP 200 whose tables hold only part of the result; `inner` is
    the engine's own error."""
    return {
        "code": "PartialError",
        "message": "There were some errors when processing your query.",
        "details": [
            {
                "code": "EngineError",
                "message": "Something went wrong processing your query on the server.",
                "innererror": dict(inner),
            }
        ],
    }


_LOW_MEMORY = {
    "code": "-2133196797",
    "message": "Partial query failure: Low memory condition (E_LOW_MEMORY_CONDITION).",
}


def _truncation(limit: int) -> dict[str, Any]:
    return {
        "code": "-2133196797",
        "message": f"Query result set has exceeded the internal record count limit {limit} "
        "(E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)",
        "severity": 2,
        "severityName": "Error",
    }


def _identity(value: Any) -> Any:
    return value


def _datetime_cell(value: Any) -> Any:
    return None if value is None else _kusto_datetime(value)


def _long_cell(value: Any) -> Any:
    return None if value is None else int(value)


def _converter(kusto_type: str) -> Callable[[Any], Any]:
    return {"datetime": _datetime_cell, "long": _long_cell, "int": _long_cell}.get(
        kusto_type, _identity
    )


def _make_handler(server: FakeLogAnalytics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes: without this, Nagle's algorithm and
            # the client's delayed ACK add ~40 ms to every response.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with server._lock:
                server.stats.requests += 1
                server.stats.in_flight += 1
                server.stats.max_in_flight = max(server.stats.max_in_flight, server.stats.in_flight)
            try:
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = server.handle(self.path, headers, raw)
            except Exception as error:  # a bug in the fake must show, not hang the client
                server.stats.internal_errors.append(repr(error))
                reply = _Reply.json(500, _error("InternalServerError", repr(error)))
            finally:
                with server._lock:
                    server.stats.in_flight -= 1
            if reply.status >= 400 and reply.body:
                with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError), server._lock:
                    server.stats.errors.append(orjson.loads(reply.body)["error"])
            if reply.reset:
                self._reset()
                return
            self._send_status(reply)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.reset_midbody:
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b'{"tables":[{"name":"PrimaryResult","columns":[')
                self.wfile.flush()
                self._reset()
                return
            accepts_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
            if reply.status == 200 and reply.body and accepts_gzip:
                # As the service sends results: gzip-encoded and chunked (recordings).
                self._send_gzip_chunked(reply.body)
                return
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.body:
                self.wfile.write(reply.body)

        def date_time_string(self, timestamp: float | None = None) -> str:
            """The `Date` header from the server's clock, not the machine's: the service's
            clock, which tests skew against the exporter's (whole seconds, as HTTP has)."""
            if timestamp is not None:
                return super().date_time_string(timestamp)
            return email.utils.format_datetime(server.clock().astimezone(UTC), usegmt=True)

        def _send_status(self, reply: _Reply) -> None:
            if reply.date is True:
                self.send_response(reply.status)
                return
            self.log_request(reply.status)
            self.send_response_only(reply.status)
            self.send_header("Server", self.version_string())
            if isinstance(reply.date, str):
                self.send_header("Date", reply.date)

        def _send_gzip_chunked(self, body: bytes) -> None:
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Vary", "Accept-Encoding")
            self.end_headers()
            compressed = server.gzipped(body)
            step = 64 * 1024
            for offset in range(0, len(compressed), step):
                chunk = compressed[offset : offset + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")

        def _reset(self) -> None:
            reset_connection(self)

    return Handler
