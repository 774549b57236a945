"""One Log Analytics query through the real `LogsQueryClient` pipeline, parsed with orjson.

The SDK's `query_workspace` re-serialises every cell and parses every datetime (~30x slower
than parsing the bytes). We keep its pipeline - authentication, retries, endpoint and audience,
TLS, logging - and send the same request ourselves (`send_request`), then parse with orjson.
"""

from __future__ import annotations

import email.utils
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import orjson
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.core.rest import HttpRequest
from azure.monitor.query import LogsQueryClient

from acs_exporter.sources.base import SourceError
from acs_exporter.sources.formats.reasons import Rejection
from acs_exporter.sources.loganalytics import errors
from acs_exporter.sources.loganalytics.gcpause import gc_paused
from acs_exporter.sources.loganalytics.pieces import RowPieces, split_response
from acs_exporter.sources.loganalytics.reasons import QueryError
from acs_exporter.sources.loganalytics.response import (
    ResponseError,
    ResultTable,
    check_piece,
    check_rows,
    parse_response,
)
from acs_exporter.sources.loganalytics.settings import canonical_resource_id
from acs_exporter.sources.loganalytics.timestamps import InvalidTimestamp, ticks_from_datetime

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
        # Keyed by one spelling of the id, so a restart that spells it otherwise continues
        # from the same position; asked for as configured (the service ignores the case).
        return cls(resource_key(resource_id), f"/{resource_id.strip('/')}/query")

    def describe(self) -> str:
        if self.key.startswith("workspace:"):
            extra = (
                f" (+{', '.join(self.additional_workspaces)})" if self.additional_workspaces else ""
            )
            return f"workspace {self.key.removeprefix('workspace:')}{extra}"
        return f"resource {self.path.removesuffix('/query')}"


RESOURCE_PREFIX = "resource:"


def resource_key(resource_id: str) -> str:
    """The cursor key of an ACS resource (`resource:` + its canonical id)."""
    return RESOURCE_PREFIX + canonical_resource_id(resource_id)


@dataclass(frozen=True)
class Answer:
    """A query's result and when the service gave it, by the service's own clock."""

    table: ResultTable
    # Ticks: the response's `Date` header (whole seconds, so at or before the service's
    # clock); None when there is none or it cannot be read.
    service_time: int | None = None


def service_time(date: str | None) -> int | None:
    """The HTTP `Date` header as ticks, None when missing or unreadable."""
    if not date:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # `-0000`: UTC by RFC 5322
        moment = moment.replace(tzinfo=UTC)
    try:
        return ticks_from_datetime(moment.astimezone(UTC))
    except (InvalidTimestamp, OverflowError):
        return None


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

    def query(self, target: Target, kql: str, timespan: str | None) -> Answer:
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
        answered = service_time(response.headers.get("Date"))
        if response.status_code == 204:  # the workspace has no data at all
            return Answer(ResultTable("PrimaryResult", (), []), answered)
        if response.status_code != 200:
            raise errors.from_status(
                response.status_code, payload, dict(response.headers), where=where
            )
        with gc_paused():  # a whole parse; a large body is parsed in pieces as it is counted
            return Answer(parse(payload, where=where, headers=dict(response.headers)), answered)


def parse(payload: bytes, *, where: str, headers: Mapping[str, str] | None = None) -> ResultTable:
    """The primary table of a response body (response.py checks it); a malformed body is a
    `server_error` naming what was wrong and where, a partial result is `partial` (nothing is
    counted, so the next poll re-reads the window)."""
    try:
        split = split_response(payload)
        response = parse_response(payload) if split is None else split[0]
    except ResponseError as error:
        raise _malformed(where, error) from None
    if response.error is not None:
        if errors.is_truncation(response.error):
            raise errors.Truncated(errors.describe_error_object(response.error, headers))
        raise SourceError(
            QueryError.PARTIAL,
            f"{where}: partial result, not counted (will retry): "
            f"{errors.describe_error_object(response.error, headers)}",
        )
    primary = response.tables[0]
    if split is not None:
        rows = _checked(split[1], len(primary.columns), where)
        return ResultTable(primary.name, primary.columns, [], streamed=rows)
    try:
        check_rows(primary)
    except ResponseError as error:
        raise _malformed(where, error) from None
    if len(primary.rows) >= ROW_LIMIT:
        raise errors.Truncated(f"{len(primary.rows)} rows: at the service's row limit")
    return primary


def _checked(pieces: RowPieces, width: int, where: str) -> Iterator[list[Any]]:
    """The pieces' rows, each checked as it is read, then the row limit: the caller counts
    nothing until the last piece has been read, so a bad row anywhere counts none."""
    done = 0
    try:
        for rows in pieces:
            check_piece(rows, width, first=done)
            done += len(rows)
            yield rows
            del rows  # not alive while the next piece is parsed
    except ResponseError as error:
        raise _malformed(where, error) from None
    if done >= ROW_LIMIT:
        raise errors.Truncated(f"{done} rows: at the service's row limit")


def _malformed(where: str, error: ResponseError) -> SourceError:
    if error.reason == Rejection.INVALID_JSON:
        return SourceError(QueryError.SERVER_ERROR, f"{where}: {error.what}; nothing was counted")
    return SourceError(
        QueryError.SERVER_ERROR,
        f"{where}: malformed response: {error.what}; nothing was counted (will retry)",
    )
