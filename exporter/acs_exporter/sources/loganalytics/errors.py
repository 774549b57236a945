"""Turn what can go wrong with a Log Analytics query into a SourceError with a short reason.

Reasons are the `reason` label values of `acs_exporter_query_errors_total`: throttled,
server_error, timeout, connection, auth, bad_query, partial, truncated. Messages say what to do.
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

from acs_exporter.sources.base import SourceError

READER_ROLE_HINT = (
    "grant the exporter's identity the 'Log Analytics Reader' role on the workspace "
    "(or read access to the ACS resource for resource_ids)"
)

# How the service reports a result cut at 500,000 rows or ~64 MB (a partial query failure).
_TRUNCATION_MARKERS = (b"E_QUERY_RESULT_SET_TOO_LARGE", b"exceeded the internal")


class Truncated(Exception):
    """The response hit the service's row or size limit: the window must be split."""


def error_text(body: bytes) -> str:
    """'Code: message' from a Log Analytics error object, or the start of the raw body."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode("utf-8", "replace").strip() or "(empty body)"
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return body[:200].decode("utf-8", "replace")
    return describe_error_object(error)


def describe_error_object(error: Mapping[str, Any]) -> str:
    parts = [f"{error.get('code', 'Error')}: {error.get('message', '')}".strip()]
    inner: Any = error.get("innererror")
    while isinstance(inner, dict):
        if inner.get("message"):
            parts.append(str(inner["message"]))
        inner = inner.get("innererror")
    for detail in error.get("details") or ():
        if isinstance(detail, dict):
            parts.append(describe_error_object(detail))
    return " / ".join(p for p in parts if p)


def is_truncation(error: Mapping[str, Any]) -> bool:
    text = orjson.dumps(error)
    return any(marker in text for marker in _TRUNCATION_MARKERS)


def from_status(status: int, body: bytes, headers: Mapping[str, str], *, where: str) -> SourceError:
    """A non-2xx answer (after the client pipeline's own retries)."""
    detail = error_text(body)
    if status == 429:
        return SourceError(
            "throttled",
            f"{where}: throttled by Log Analytics (429): {detail}",
            retry_after=retry_after_seconds(headers),
        )
    if status in (401, 403):
        problem = "token rejected" if status == 401 else "access denied"
        hint = (
            READER_ROLE_HINT
            if status == 403
            else f"check the audience and tenant of the credential; {READER_ROLE_HINT}"
        )
        return SourceError("auth", f"{where}: {problem} ({status}): {detail}; {hint}")
    if status in (408, 504):
        return SourceError("timeout", f"{where}: query timed out ({status}): {detail}")
    if status >= 500:
        return SourceError("server_error", f"{where}: Log Analytics failed ({status}): {detail}")
    if status == 404:
        return SourceError(
            "bad_query",
            f"{where}: not found (404): {detail}; check workspace_ids/resource_ids and endpoint",
        )
    return SourceError("bad_query", f"{where}: query rejected ({status}): {detail}")


def from_exception(error: Exception, *, where: str) -> SourceError:
    """A transport or credential failure raised by the client pipeline."""
    if isinstance(error, ClientAuthenticationError):
        return SourceError(
            "auth",
            f"{where}: could not get a token for Log Analytics: {error.message}; configure "
            "workload identity, a managed identity, AZURE_CLIENT_ID/SECRET/TENANT_ID or "
            "`az login` (DefaultAzureCredential)",
        )
    if isinstance(error, ServiceRequestTimeoutError | ServiceResponseTimeoutError):
        return SourceError("timeout", f"{where}: no answer in time: {error}")
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return SourceError("connection", f"{where}: connection failed: {error}")
    return SourceError("connection", f"{where}: {type(error).__name__}: {error}")


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
