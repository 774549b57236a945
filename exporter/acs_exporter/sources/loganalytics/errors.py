"""Turn what can go wrong with a Log Analytics query into a SourceError with a short reason.

Reasons are the `reason` label values of `acs_exporter_query_errors_total`, defined in
reasons.py. Messages say what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from azure.core.exceptions import (
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)

from acs_exporter.inputs.redact import mask_urls, shorten
from acs_exporter.sources.base import SourceError
from acs_exporter.sources.loganalytics.reasons import QueryError

READER_ROLE_HINT = (
    "grant the exporter's identity the 'Log Analytics Reader' role on the workspace "
    "(or read access to the ACS resource for resource_ids)"
)

# How the service reports a result cut at 500,000 rows or ~64 MB (a partial query failure).
_TRUNCATION_MARKERS = (b"E_QUERY_RESULT_SET_TOO_LARGE", b"exceeded the internal")


class Truncated(Exception):
    """The response hit the service's row or size limit: the window must be split."""


def error_text(body: bytes, headers: Mapping[str, str] | None = None) -> str:
    """What a Log Analytics error body says: every code and message of the error and its inner
    errors, and the correlationId (from the body, else a response header); or the start of a
    body that is not an error object."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = _start_of(body) or "(empty body)"
        return _with_correlation(text, None, headers)
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return _with_correlation(_start_of(body), None, headers)
    return describe_error_object(error, headers)


_READ = 1024  # of a body, for its start


def _start_of(body: bytes) -> str:
    """The start of a body that is not an error object (a proxy's HTML page, a JSON blob).
    Masked before it is cut: a URL cut in two would lose its '@' and show its password."""
    text = body[:_READ].decode("utf-8", "replace")
    if len(body) > _READ:  # the same at the read limit: the last word, maybe a URL, goes
        text = text.rsplit(None, 1)[0] if text.split() else ""
    return shorten(mask_urls(text.strip()), 200)


def describe_error_object(
    error: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> str:
    """'Code: message / InnerCode: message / ... (correlationId ID)'.

    The service nests the engine's reasons (`innererror`, also spelt `innerError`) and, for a
    partial result, a `details` list; Azure support asks for the codes and the correlationId,
    so none of them is dropped.
    """
    parts = _error_parts(error)
    correlation = error.get("correlationId")
    return _with_correlation(" / ".join(parts), correlation, headers)


def _error_parts(error: Mapping[str, Any]) -> list[str]:
    """The error's chain of inner errors, outermost first, then its details (each with its own
    chain)."""
    parts: list[str] = []
    details: list[str] = []
    current: Any = error
    while isinstance(current, Mapping):
        code, message = current.get("code"), current.get("message")
        text = ": ".join(str(x).strip() for x in (code, message) if x not in (None, ""))
        if text:
            parts.append(text)
        for detail in current.get("details") or ():
            if isinstance(detail, Mapping):
                details.extend(_error_parts(detail))
        current = _inner_error(current)
    return parts + details


def _inner_error(error: Mapping[str, Any]) -> Any:
    inner = error.get("innererror")
    return inner if inner is not None else error.get("innerError")


# Where a correlation id may also be found when the body has none.
_CORRELATION_HEADERS = ("x-ms-correlation-request-id", "x-ms-request-id")


def _with_correlation(text: str, correlation: Any, headers: Mapping[str, str] | None) -> str:
    if not correlation and headers:
        for name in _CORRELATION_HEADERS:
            correlation = _header(headers, name)
            if correlation:
                break
    return f"{text} (correlationId {correlation})" if correlation else text


def is_truncation(error: Mapping[str, Any]) -> bool:
    text = orjson.dumps(error)
    return any(marker in text for marker in _TRUNCATION_MARKERS)


def from_status(status: int, body: bytes, headers: Mapping[str, str], *, where: str) -> SourceError:
    """A non-2xx answer (after the client pipeline's own retries)."""
    detail = error_text(body, headers)
    if status == 429:
        return SourceError(
            QueryError.THROTTLED,
            f"{where}: throttled by Log Analytics (429): {detail}",
            retry_after=retry_after_seconds(headers),
        )
    if status in (401, 403):
        problem = "token rejected" if status == 401 else "access denied"
        # A 403 InvalidAuthenticationToken(Audience) is a token problem, not a missing role.
        token_problem = status == 401 or "InvalidAuthenticationToken" in detail
        hint = (
            f"check the audience and tenant of the credential; {READER_ROLE_HINT}"
            if token_problem
            else READER_ROLE_HINT
        )
        return SourceError(QueryError.AUTH, f"{where}: {problem} ({status}): {detail}; {hint}")
    if status in (408, 504):
        return SourceError(QueryError.TIMEOUT, f"{where}: query timed out ({status}): {detail}")
    if status >= 500:
        return SourceError(
            QueryError.SERVER_ERROR, f"{where}: Log Analytics failed ({status}): {detail}"
        )
    if status == 404:
        return SourceError(
            QueryError.BAD_QUERY,
            f"{where}: not found (404): {detail}; check workspace_ids/resource_ids and endpoint",
        )
    return SourceError(QueryError.BAD_QUERY, f"{where}: query rejected ({status}): {detail}")


def from_exception(error: Exception, *, where: str) -> SourceError:
    """A transport or credential failure raised by the client pipeline."""
    if isinstance(error, ClientAuthenticationError):
        return SourceError(
            QueryError.AUTH,
            f"{where}: could not get a token for Log Analytics: {mask_urls(error.message)}; "
            "configure workload identity, a managed identity, AZURE_CLIENT_ID/SECRET/TENANT_ID or "
            "`az login` (DefaultAzureCredential)",
        )
    text = mask_urls(str(error))  # the transport's words, with any URL's credentials masked
    if isinstance(error, ServiceRequestTimeoutError | ServiceResponseTimeoutError):
        return SourceError(QueryError.TIMEOUT, f"{where}: no answer in time: {text}")
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return SourceError(QueryError.CONNECTION, f"{where}: connection failed: {text}")
    return SourceError(QueryError.CONNECTION, f"{where}: {type(error).__name__}: {text}")


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Retry-After (seconds form; the HTTP-date form is not used by Log Analytics)."""
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = _header(headers, name)
        if value is not None:
            try:
                return max(0.0, float(value) / 1000)
            except ValueError:
                pass
    value = _header(headers, "retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
