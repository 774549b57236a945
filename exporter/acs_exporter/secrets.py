"""The secrets this process holds, collected at start-up and at each reload, so every log line
and every status message (/readyz, the landing page, a start-up error) is scrubbed of them
wherever they appear: a library quotes what it was given in words of its own, not as a URL
(docs/configuration.md, "Secrets"). The masking itself is acs_exporter.inputs.redact's."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from acs_exporter.inputs.redact import (
    remember_secrets,
    secrets_in_header_value,
    secrets_in_url,
)

if TYPE_CHECKING:
    from acs_exporter.config import Settings

# Read by requests, urllib3 and the Azure SDK (the standard variables, both spellings).
PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "https_proxy",
    "http_proxy",
    "all_proxy",
)
# Read by the OpenTelemetry SDK: `name=value` pairs, comma separated (values percent-encoded).
OTEL_HEADER_VARIABLES = ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_HEADERS")
OTEL_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
# Read by azure-identity's EnvironmentCredential: secrets as they are.
AZURE_SECRET_VARIABLES = ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD")
CONNECTION_STRING_SECRETS = ("accountkey", "sharedaccesssignature")


def remember(settings: Settings, environ: Mapping[str, str] = os.environ) -> None:
    """Have redact.scrub_text remove every secret of `settings` and of the environment."""
    remember_secrets(held(settings, environ))


def held(settings: Settings, environ: Mapping[str, str]) -> Iterator[str]:
    yield from secrets_in_url(settings.otlp.endpoint)
    for value in settings.otlp.headers.values():
        yield from secrets_in_header_value(value)
    blob = settings.state.azure_blob
    if blob is not None:
        yield from secrets_in_url(blob.container_url)
    yield from in_environment(environ)


def in_environment(environ: Mapping[str, str]) -> Iterator[str]:
    for name in (*PROXY_VARIABLES, *OTEL_ENDPOINT_VARIABLES):
        if environ.get(name):
            yield from secrets_in_url(environ[name])
    for name in OTEL_HEADER_VARIABLES:
        for item in environ.get(name, "").split(","):
            # `name=value` as specified, or whatever was written instead (`Name: value`).
            yield from secrets_in_header_value(item.partition("=")[2] or item)
    for name in AZURE_SECRET_VARIABLES:
        if environ.get(name):
            yield environ[name]
    yield from in_connection_string(environ.get("AZURE_STORAGE_CONNECTION_STRING", ""))


def in_connection_string(connection: str) -> Iterator[str]:
    """The account key and the shared access signature of a storage connection string."""
    for part in connection.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() in CONNECTION_STRING_SECRETS and value:
            yield value
            # The signature's own values too: the SDK quotes them as a URL's query.
            yield from secrets_in_url("https://x/?" + value.lstrip("?"))
