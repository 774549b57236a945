"""One metrics batch call through the real `MetricsClient.query_resources` (azure-monitor-
querymetrics): its pipeline authenticates, builds the request, retries briefly (429 honouring
Retry-After, 5xx, connection errors) and talks TLS; the body it received is then read by
response.py, because the SDK's models drop what exactly-once needs (`errorCode` per resource,
a null where a value should be) or fail on it with a bare KeyError.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
from azure.core.pipeline import PipelineResponse

from acs_exporter.inputs.redact import mask_urls
from acs_exporter.sources.azure_metrics.reasons import QueryError
from acs_exporter.sources.azure_metrics.response import (
    MetricAnswer,
    ResourceFailure,
    ResponseError,
    parse_batch,
)
from acs_exporter.sources.base import SourceError
from acs_exporter.sources.loganalytics import errors as la_errors

NAMESPACE = "Microsoft.Communication/CommunicationServices"
ROLE_HINT = "grant the exporter's identity 'Monitoring Reader' on the ACS resources"

_credential_lock = threading.Lock()
_default_credential: TokenCredential | None = None


def default_credential() -> TokenCredential:
    """One DefaultAzureCredential per process (workload identity, managed identity, ...)."""
    global _default_credential  # noqa: PLW0603 - one per process, on first use
    with _credential_lock:
        if _default_credential is None:
            from azure.identity import DefaultAzureCredential

            _default_credential = DefaultAzureCredential()
        return _default_credential


@dataclass(frozen=True)
class MetricQuery:
    """One platform metric and the dimensions it is split by (`filter`: each `eq '*'`)."""

    name: str
    dimensions: tuple[str, ...]

    @property
    def filter(self) -> str:
        return " and ".join(f"{d} eq '*'" for d in self.dimensions)


class MetricsCaller:
    def __init__(
        self,
        credential: TokenCredential,
        *,
        endpoint: str,
        audience: str | None,
        connection_verify: str | bool = True,
        timeout: float = 60.0,
    ) -> None:
        from azure.monitor.querymetrics import MetricsClient

        kwargs: dict[str, Any] = {
            # Transient failures are retried here briefly; the next poll is the long-term retry.
            "retry_total": 3,
            "retry_backoff_factor": 0.5,
            "retry_backoff_max": 8,
            "connection_timeout": 10,
            "read_timeout": timeout,
            "connection_verify": connection_verify,
        }
        if audience:
            kwargs["audience"] = audience
        self.client = MetricsClient(endpoint, credential, **kwargs)

    def close(self) -> None:
        self.client.close()

    def query(
        self,
        query: MetricQuery,
        resources: Sequence[str],
        window: tuple[datetime, datetime],
        top: int,
    ) -> dict[str, MetricAnswer]:
        """`query`'s per-minute counts of `resources` (one subscription, at most 50) over
        `window`, by lower-cased resource id. Raises SourceError."""
        where = f"{query.name} of {len(resources)} resource(s)"
        received: list[PipelineResponse[Any, Any]] = []
        try:
            self.client.query_resources(
                resource_ids=list(resources),
                metric_namespace=NAMESPACE,
                metric_names=[query.name],
                timespan=window,
                granularity=timedelta(minutes=1),
                aggregations=["count"],
                max_results=top,
                filter=query.filter,
                raw_response_hook=received.append,
            )
        except HttpResponseError as error:
            if error.status_code != 200 or not received:
                raise from_http_error(error, where) from None
        except ClientAuthenticationError as error:
            raise SourceError(
                QueryError.AUTH,
                f"{where}: could not get a token for Azure Monitor metrics: "
                f"{mask_urls(str(error.message))}; configure workload identity, a managed "
                "identity, AZURE_CLIENT_ID/SECRET/TENANT_ID or `az login` "
                "(DefaultAzureCredential)",
            ) from None
        except AzureError as error:  # transport: timeouts and connection failures
            raise la_errors.from_exception(error, where=where) from None
        except (KeyError, TypeError, AttributeError, ValueError):
            pass  # the SDK's models could not take the body: response.py says what is wrong
        if not received:
            raise SourceError(QueryError.CONNECTION, f"{where}: no response received")
        body = received[-1].http_response.body()
        return _parsed(body, query, resources, where)


def _parsed(
    body: bytes, query: MetricQuery, resources: Sequence[str], where: str
) -> dict[str, MetricAnswer]:
    try:
        return parse_batch(body, query.name, resources)
    except ResponseError as error:
        raise SourceError(
            QueryError.SERVER_ERROR,
            f"{where}: malformed response: {error}; nothing was counted (will retry)",
        ) from None
    except ResourceFailure as failure:
        raise SourceError(
            QueryError.RESOURCE_ERROR,
            f"resource {failure.resource}: {failure}; nothing of this poll was counted (check "
            f"resource_ids and region; {ROLE_HINT})",
        ) from None


def from_http_error(
    error: HttpResponseError,
    where: str,
    *,
    role_hint: str = ROLE_HINT,
    not_found: QueryError = QueryError.RESOURCE_ERROR,
    not_found_hint: str = "check resource_ids and region",
    service: str = "Azure Monitor metrics",
) -> SourceError:
    """A non-2xx answer after the pipeline's retries (of the metrics API, or of ARM for the
    discovery, which names its service, gives its own hints and calls a 404 a bad
    subscription)."""
    response: Any = error.response  # azure.core's HttpResponse (typed as its common base)
    status = error.status_code or 0
    headers = dict(response.headers) if response is not None else {}
    body = response.body() if response is not None else b""
    detail = la_errors.error_text(body, headers)
    if status == 429:
        return SourceError(
            QueryError.THROTTLED,
            f"{where}: throttled by {service} (429): {detail}",
            retry_after=la_errors.retry_after_seconds(headers),
        )
    if status in (401, 403):
        return SourceError(
            QueryError.AUTH, f"{where}: access denied ({status}): {detail}; {role_hint}"
        )
    if status in (408, 504):
        return SourceError(QueryError.TIMEOUT, f"{where}: timed out ({status}): {detail}")
    if status >= 500:
        return SourceError(
            QueryError.SERVER_ERROR, f"{where}: {service} failed ({status}): {detail}"
        )
    if status == 404:
        return SourceError(not_found, f"{where}: not found (404): {detail}; {not_found_hint}")
    return SourceError(QueryError.BAD_QUERY, f"{where}: request rejected ({status}): {detail}")
