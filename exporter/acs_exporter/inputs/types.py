"""Value types shared by the configuration models (config.py and the sources' settings).

Every duration is read as Prometheus-style text ("15s", "1m30s", "500ms"), seconds or ISO 8601,
and must lie in a range chosen for its key: a zero or negative poll interval would busy-loop a
core, a century would overflow. Floats are finite (the models set `allow_inf_nan=False`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

from pydantic import AfterValidator, BeforeValidator, Field

# Prometheus-style durations ("15s", "1m30s", "500ms"), as in every exporter's flags.
DURATION_PATTERN = re.compile(
    r"^((?P<w>[0-9]+)w)?((?P<d>[0-9]+)d)?((?P<h>[0-9]+)h)?((?P<m>[0-9]+)m)?((?P<s>[0-9]+)s)?"
    r"((?P<ms>[0-9]+)ms)?$"
)
_UNIT_MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
# Beyond any range below, and far inside timedelta's (999,999,999 days).
LONGEST = timedelta(days=36_500)


def parse_duration(value: object) -> object:
    """Turn "15s" / "1m30s" / "500ms" into a timedelta; leave anything else to pydantic
    (numbers of seconds, ISO 8601, timedelta), which rejects what it cannot read."""
    if isinstance(value, str):
        text = value.strip()
        match = DURATION_PATTERN.match(text) if len(text) <= 40 else None
        if text and match and any(match.groupdict().values()):
            millis = sum(
                int(amount) * _UNIT_MS[unit] for unit, amount in match.groupdict().items() if amount
            )
            if millis > LONGEST.total_seconds() * 1000:
                raise ValueError("expected a duration of at most 100 years")
            return timedelta(milliseconds=millis)
    return value


def format_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds and seconds == int(seconds):
        whole = int(seconds)
        for unit, size in (("h", 3600), ("m", 60)):
            if whole % size == 0:
                return f"{whole // size}{unit}"
        return f"{whole}s"
    return f"{round(seconds * 1000)}ms"


@dataclass(frozen=True)
class DurationRange:
    """The range a duration key must lie in: the check pydantic runs after parsing, and data
    generators/chart_schema.py reads so the chart's values schema holds the same bounds."""

    minimum: timedelta
    maximum: timedelta

    def __call__(self, value: timedelta) -> timedelta:
        if not self.minimum <= value <= self.maximum:
            low = "0s" if self.minimum == timedelta(0) else format_duration(self.minimum)
            raise ValueError(f"expected a duration from {low} to {format_duration(self.maximum)}")
        return value


def between(minimum: timedelta, maximum: timedelta) -> AfterValidator:
    """The range check of a duration key; the error names both ends."""
    return AfterValidator(DurationRange(minimum, maximum))


READ_DURATION = BeforeValidator(parse_duration)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)

# How often a source is polled: often enough to be useful, never a busy loop.
PollInterval = Annotated[timedelta, READ_DURATION, between(timedelta(milliseconds=100), DAY)]


def check_http_url(value: str) -> str:
    """An http(s) URL with a host and, if given, a valid port. The message never quotes it."""
    expected = "expected an http:// or https:// URL, e.g. https://host:4318/v1/metrics"
    if not re.match(r"^https?://[^/\s]+", value) or any(c.isspace() for c in value):
        raise ValueError(expected)
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError when not a number from 0 to 65535
    except ValueError:
        raise ValueError(expected + " (the host or port cannot be read)") from None
    if not parts.hostname or port == 0:
        raise ValueError(expected)
    return value


# A URL's user information as written: up to the last '@' before the path or query. Not
# urlsplit's: a '#' left unencoded in a password (a common slip) ends its authority there, so
# it would read the password as a host and port, and keep it in the URL.
USERINFO = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?]*)@(?P<rest>.*)$", re.S
)


def credentials_to_header(url: str, headers: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """`https://user:password@host/...` -> (`https://host/...`, Authorization: Basic ...): HTTP
    clients (urllib, the OTLP SDK's requests) send no user information of a URL, and print it
    in their errors. An Authorization header already given wins over the URL's credentials."""
    out = dict(headers)
    match = USERINFO.match(url)
    if match is None:
        return url, out
    user, _, password = match["userinfo"].partition(":")
    if not any(key.lower() == "authorization" for key in out):
        token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
        out["Authorization"] = f"Basic {token}"
    return match["scheme"] + match["rest"], out


# Header names are tokens (RFC 9110 section 5.6.2); values must not end the header early.
# Matched whole (fullmatch): `$` would let a trailing newline through.
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def header_problem(name: str, value: str) -> str | None:
    """What makes `name: value` unsendable, or None. Names the header, never its value."""
    if not HEADER_NAME.fullmatch(name):
        return f"header name {name!r} is not an HTTP token"
    if not HEADER_VALUE.fullmatch(value):
        return f"the value of header {name!r} has a control character (a newline?)"
    return None


def check_request_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers the exporter sends: sendable, and without surrounding whitespace, which HTTP
    clients refuse at every request, quoting the value in their error (a YAML block scalar,
    `Authorization: |`, keeps a trailing newline)."""
    problems = []
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem is None and value != value.strip():
            problem = f"the value of header {name!r} starts or ends with whitespace"
        if problem:
            problems.append(problem)
    if problems:
        raise ValueError("; ".join(problems) + "; write each value on one line, unpadded")
    return headers


def check_base_url(value: str) -> str:
    """An API base URL: credentials authenticate separately (DefaultAzureCredential), so a
    user, password, query or fragment there is a mistake, and one that would be logged."""
    check_http_url(value)
    parts = urlsplit(value)
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            "expected the API's base URL (scheme, host, port, path): no user name, password, "
            "query or fragment"
        )
    return value


BaseUrl = Annotated[str, AfterValidator(check_base_url)]
# A source's name: the `source` label and its checkpoint key.
NAME_LENGTH = 128


def source_name(default: str) -> Any:
    """The `name` every source's settings have (its `source` label and checkpoint key)."""
    return Field(
        default,
        min_length=1,
        max_length=NAME_LENGTH,
        description="Source name: `source` label, checkpoint key.",
    )


def check_path_text(value: object) -> object:
    """An empty or blank path is a mistake, not the current directory (pathlib reads "" as
    "."): refuse it before it becomes one. A NUL cannot be in a path: open() would raise
    ValueError (not OSError) on it, which no loader expects."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("expected a file path, got an empty one")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("a NUL character is not allowed in a path")
    return value


# A file path in the configuration or the web config: never empty, never with a NUL.
FilePath = Annotated[Path, BeforeValidator(check_path_text)]

_ID_FORBIDDEN = re.compile(r"[\s/?#%]")


def check_workspace_id(value: str) -> str:
    """A Log Analytics workspace id goes into the query URL's path: no blanks or URL syntax."""
    if not value or _ID_FORBIDDEN.search(value):
        raise ValueError("expected a workspace id (a GUID), without blanks, '/', '?', '#' or '%'")
    return value


def check_resource_id(value: str) -> str:
    """An Azure resource id: /subscriptions/.../NAME, no blanks or query syntax."""
    if not value.startswith("/") or len(value) < 2 or re.search(r"[\s?#%]", value):
        raise ValueError(
            "expected an Azure resource id (/subscriptions/.../communicationServices/NAME)"
        )
    return value


WorkspaceId = Annotated[str, AfterValidator(check_workspace_id)]
ResourceId = Annotated[str, AfterValidator(check_resource_id)]
