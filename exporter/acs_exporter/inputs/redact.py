"""What the exporter may print about configuration values: the one place secrets are masked.

Policy (docs/configuration.md, "Secrets"): configuration errors name the file, line and key,
never the text that was written there. Only values that cannot carry a secret are echoed:
booleans, null, numbers and durations ("15s"). The effective-configuration dump
(`check-config`) and log lines mask every value under a secret-looking key and the user
name, password and query of every URL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from acs_exporter.inputs.types import DURATION_PATTERN

MASK = "***"
SECRET_WORDS = ("headers", "password", "secret", "token", "authorization", "credential", "apikey")


def is_secret_key(key: str) -> bool:
    lowered = key.lower().replace("-", "").replace("_", "")
    return any(word in lowered for word in SECRET_WORDS)


def shown_value(value: object) -> str | None:
    """How an error may show the value the user wrote, or None: it is not shown."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        text = repr(value)
        return text if len(text) <= 24 else f"{text[:8]}...({len(text)} digits)"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, str) and len(value) <= 24 and DURATION_PATTERN.match(value.strip()):
        return repr(value)
    return None


def shorten(text: str, limit: int = 80, *, say_length: bool = False) -> str:
    """`text` in at most `limit` characters, "..." marking a cut (and, with `say_length`, how
    long it was): the one cutter, so every error that quotes something (a key, a server's
    answer, a saved cursor, a rejected record) stays one short line."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 3] + "..."
    return f"{cut} ({len(text)} characters)" if say_length else cut


def shorten_repr(value: object, limit: int = 80) -> str:
    """A value as Python writes it, shortened: for data (records, responses, cursors), never
    for what a user configured (that goes through `shown_value`)."""
    return shorten(repr(value), limit)


def dotted(path: Sequence[str | int]) -> str:
    """`sources[0].paths[2]`: where in a document, as errors name it ("" for the top)."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        name = shorten(part, 40)  # a pasted blob as a key
        text += f".{name}" if text else name
    return text


def mask_url(url: str) -> str:
    """The URL without what could authenticate: user name and password, query values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = "&".join(
        f"{item.partition('=')[0]}={MASK}" if "=" in item else MASK
        for item in parts.query.split("&")
        if item
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()\[\]]+")


def mask_urls(text: str) -> str:
    """Free text (a library's exception message) with every URL in it masked like `mask_url`:
    a proxy or endpoint URL can carry a user name, a password or a signed query."""
    return _URL_IN_TEXT.sub(lambda match: mask_url(match[0]), text)


def mask_text(value: str) -> str:
    """A free-text value for display: URLs lose their credentials."""
    return mask_url(value) if "://" in value else value


def scrub(message: str, value: object) -> str:
    """`message` without the string `value` in it: the last line of defence for a validator
    whose message quotes its input."""
    if isinstance(value, str) and len(value) >= 4:
        # Whole occurrences only: "Unexpected" written for a category must not garble the
        # allowed 'UnexpectedClientError' that pydantic lists in the message.
        return re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", MASK, message)
    return message
