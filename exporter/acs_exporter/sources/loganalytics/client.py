"""One Log Analytics query through the real `LogsQueryClient` pipeline, parsed with orjson.

The SDK's `query_workspace` re-serialises every cell and parses every datetime (~30x slower
than parsing the bytes). We keep its pipeline - authentication, retries, endpoint and audience,
TLS, logging - and send the same request ourselves (`send_request`), then parse with orjson.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.core.rest import HttpRequest
from azure.monitor.query import LogsQueryClient

from acs_exporter.sources.base import SourceError
from acs_exporter.sources.loganalytics import errors

# The service allows 5 concurrent queries per user; more get queued, then throttled.
MAX_CONCURRENT_QUERIES = 5
# The service's row limit per response; a result this long is (treated as) truncated.
ROW_LIMIT = 500_000

_slots_lock = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


def query_slots(credential: object) -> threading.BoundedSemaphore:
    """One semaphore per identity (credential object) for the whole process."""
    with _slots_lock:
        slot = _slots.get(id(credential))
        if slot is None:
            slot = _slots[id(credential)] = threading.BoundedSemaphore(MAX_CONCURRENT_QUERIES)
        return slot


@dataclass(frozen=True)
class Target:
    """Where a query goes: a workspace (with others riding along) or one ACS resource."""

    key: str  # stable; used in cursors
    path: str  # below {endpoint}/v1
    additional_workspaces: tuple[str, ...] = ()

    @classmethod
    def workspaces(cls, workspace_ids: Sequence[str]) -> Target:
        first, *rest = workspace_ids
        return cls(f"workspace:{first}", f"/workspaces/{first}/query", tuple(rest))

    @classmethod
    def resource(cls, resource_id: str) -> Target:
        return cls(f"resource:{resource_id}", f"/{resource_id.strip('/')}/query")

    def describe(self) -> str:
        if self.key.startswith("workspace:"):
            extra = (
                f" (+{', '.join(self.additional_workspaces)})" if self.additional_workspaces else ""
            )
            return f"workspace {self.key.removeprefix('workspace:')}{extra}"
        return f"resource {self.key.removeprefix('resource:')}"


@dataclass(frozen=True)
class QueryResult:
    """The primary table of a query's answer: its column names and rows."""

    columns: tuple[str, ...]
    rows: list[list[Any]]


class QueryRunner:
    """Sends queries; raises SourceError (or errors.Truncated) on anything but complete data."""

    def __init__(
        self,
        credential: TokenCredential,
        *,
        endpoint: str,
        audience: str | None,
        server_timeout: int,
        connection_verify: str | bool = True,
    ) -> None:
        kwargs: dict[str, Any] = {
            "endpoint": endpoint,
            # Transient failures are retried by the pipeline (500/503/504, Retry-After,
            # connection errors), briefly: the next poll is the long-term retry.
            "retry_total": 3,
            "retry_backoff_factor": 0.5,
            "retry_backoff_max": 8,
            "connection_timeout": 10,
            # The server gives up at `Prefer: wait`; the socket waits a little longer.
            "read_timeout": server_timeout + 30,
            "connection_verify": connection_verify,
        }
        if audience:
            kwargs["audience"] = audience
        self.client = LogsQueryClient(credential, **kwargs)
        self.server_timeout = server_timeout
        self._slots = query_slots(credential)

    def query(self, target: Target, kql: str, timespan: str | None) -> QueryResult:
        # Only documented fields: `workspaces` (a list of ids) only when there are others to
        # add; never null, and never on a resource-scoped query.
        body: dict[str, object] = {"query": kql, "timespan": timespan}
        if target.additional_workspaces:
            body["workspaces"] = list(target.additional_workspaces)
        request = HttpRequest(
            "POST",
            target.path,
            headers={
                "Prefer": f"wait={self.server_timeout}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            content=orjson.dumps(body),
        )
        where = target.describe()
        with self._slots:
            try:
                response = self.client.send_request(request, stream=True)
                try:
                    payload = response.read()
                finally:
                    response.close()
            except AzureError as error:
                raise errors.from_exception(error, where=where) from error
        if response.status_code == 204:  # the workspace has no data at all
            return QueryResult((), [])
        if response.status_code != 200:
            raise errors.from_status(
                response.status_code, payload, dict(response.headers), where=where
            )
        return parse(payload, where=where, headers=dict(response.headers))


def parse(payload: bytes, *, where: str, headers: Mapping[str, str] | None = None) -> QueryResult:
    """The primary table of a response body; a malformed body is a `server_error` naming what
    was wrong and where (nothing is counted, so the next poll re-reads the window)."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as bad_json:
        raise SourceError(
            "server_error", f"{where}: response is not JSON ({bad_json}); nothing was counted"
        ) from bad_json
    if not isinstance(document, dict):
        raise _malformed(where, f"response is not a JSON object: got {_kind(document)}")
    failure = document.get("error")
    if failure:
        if not isinstance(failure, dict):
            raise _malformed(where, f"error: expected an object, got {_shown(failure)}")
        if errors.is_truncation(failure):
            raise errors.Truncated(errors.describe_error_object(failure, headers))
        raise SourceError(
            "partial",
            f"{where}: partial result, not counted (will retry): "
            f"{errors.describe_error_object(failure, headers)}",
        )
    tables = document.get("tables")
    if not tables:
        raise SourceError("server_error", f"{where}: response has no tables")
    if not isinstance(tables, list):
        raise _malformed(where, f"tables: expected a non-empty list, got {_kind(tables)}")
    primary = tables[0]
    if not isinstance(primary, dict):
        raise _malformed(where, f"tables[0]: expected an object, got {_shown(primary)}")
    columns = _column_names(primary, where)
    rows = primary.get("rows")
    if rows is None:
        raise _malformed(where, "tables[0]: no rows")
    if not isinstance(rows, list):
        raise _malformed(where, f"tables[0].rows: expected a list, got {_kind(rows)}")
    width = len(columns)
    # A cheap pass over up to 500,000 rows; the second search runs only to name the bad row.
    if not all(type(row) is list and len(row) == width for row in rows):
        index, row = next(
            (i, row)
            for i, row in enumerate(rows)
            if not (isinstance(row, list) and len(row) == width)
        )
        raise _malformed(
            where, f"tables[0].rows[{index}]: expected a list of {width} cells, got {_shown(row)}"
        )
    if len(rows) >= ROW_LIMIT:
        raise errors.Truncated(f"{len(rows)} rows: at the service's row limit")
    return QueryResult(columns, rows)


def _column_names(table: dict[str, Any], where: str) -> tuple[str, ...]:
    columns = table.get("columns")
    if columns is None:
        raise _malformed(where, "tables[0]: no columns")
    if not isinstance(columns, list):
        raise _malformed(where, f"tables[0].columns: expected a list, got {_kind(columns)}")
    names = []
    for index, column in enumerate(columns):
        name = column.get("name") if isinstance(column, dict) else None
        if not isinstance(name, str):
            raise _malformed(where, f"tables[0].columns[{index}]: no name in {_shown(column)}")
        names.append(name)
    return tuple(names)


def _malformed(where: str, what: str) -> SourceError:
    return SourceError(
        "server_error", f"{where}: malformed response: {what}; nothing was counted (will retry)"
    )


def _kind(value: object) -> str:
    return type(value).__name__


def _shown(value: object) -> str:
    """A value for an error message, cut short."""
    text = repr(value)
    return text if len(text) <= 120 else f"{text[:117]}..."
