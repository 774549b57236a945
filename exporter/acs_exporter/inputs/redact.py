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
from collections.abc import Iterable, Sequence
from urllib.parse import unquote, urlsplit, urlunsplit

from acs_exporter.inputs.types import DURATION_PATTERN, USERINFO

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


def shorten(
    text: str, limit: int = 80, *, say_length: bool = False, length: int | None = None
) -> str:
    """`text` in at most `limit` characters, "..." marking a cut (and, with `say_length`, how
    long it was: `length`, when `text` is the start of something longer): the one cutter, so
    every error that quotes something (a key, a server's answer, a saved cursor, a rejected
    record) stays one short line."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 3] + "..."
    return f"{cut} ({len(text) if length is None else length} characters)" if say_length else cut


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
    raw = USERINFO.match(url)
    if raw is not None:  # as written: urlsplit would keep a password holding a '#'
        url = f"{raw['scheme']}{MASK}@{raw['rest']}"
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


# A URL in free text ends at what usually follows one (a quote, a bracket), but its user
# information may hold those (RFC 3986 allows ' ( ) unencoded there): up to an '@' it is read
# on. The escaped form is a JSON encoder's that writes '/' as '\/'.
# Each pattern starts only where its first run of characters starts (the lookbehinds), so a
# long run is read once: a scheme allowed to start anywhere inside 'xxxx...' was tried at every
# position, and read the rest of the run each time (16 kB in 1.2 s, a megabyte in hours).
_SCHEME = r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*+"
_URL_IN_TEXT = re.compile(_SCHEME + r"://(?:[^\s/@<>\"]*@)?[^\s'\"<>()\[\]]+")
_ESCAPED_URL_IN_TEXT = re.compile(_SCHEME + r":\\/\\/(?:[^\s\\@<>\"]*@)?[^\s'\"<>()\[\]]+")


def mask_urls(text: str) -> str:
    """Free text (a library's exception message) with every URL in it masked like `mask_url`:
    a proxy or endpoint URL can carry a user name, a password or a signed query."""
    text = _ESCAPED_URL_IN_TEXT.sub(
        lambda match: mask_url(match[0].replace("\\/", "/")).replace("/", "\\/"), text
    )
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


# --- secrets in foreign text -------------------------------------------------------------------
# A library's message (the OpenTelemetry SDK's warnings, urllib3's parse errors, the Azure CLI
# output azure-identity could not read, a gateway's error body) can quote a secret as it is,
# not inside a URL. So the secrets this process holds are remembered at start-up (see
# acs_exporter.secrets) and `scrub_text` removes them, and anything shaped like a token, from
# every log line and every status message. Shorter strings are not remembered: they would
# garble ordinary words, and are no secret worth the name.
SECRET_MIN_LENGTH = 4
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# `Bearer <token>` always; `Basic <base64>` only when it has what base64 has and words lack,
# so "Basic authentication" stays.
_SCHEME_TOKEN = re.compile(
    r"\b(Bearer)\s+[A-Za-z0-9._~+/=-]{4,}"
    r"|\b(Basic)\s+(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{6,}={0,2}",
    re.IGNORECASE,
)
# `"accessToken":"..."` (JSON) and `password=...` (a query, a connection string).
_SENSITIVE_NAME = r"[A-Za-z_-]*(?:token|secret|password|passwd|apikey|api_key|accountkey|signature)"
_SECRET_FIELD = re.compile(
    rf"""(?P<json>"{_SENSITIVE_NAME}"\s*:\s*")[^"]*(?=")"""
    rf"|(?P<pair>(?<![A-Za-z_-]){_SENSITIVE_NAME}=)[^\s&;,'\"]+",
    re.IGNORECASE,
)
_known: re.Pattern[str] | None = None
_remembered: frozenset[str] = frozenset()


def remember_secrets(values: Iterable[str]) -> None:
    """Add `values` (and their percent-decoded forms) to the strings `scrub_text` removes.
    Called at start-up and at each reload; nothing is forgotten while the process runs."""
    global _known, _remembered
    found = set(_remembered)
    for value in values:
        for form in (value, value.strip(), unquote(value)):
            if len(form.strip()) >= SECRET_MIN_LENGTH:
                found.add(form.strip())
    if found == _remembered:
        return
    # Longest first, so a secret that holds a shorter one is removed whole.
    alternatives = "|".join(re.escape(s) for s in sorted(found, key=len, reverse=True))
    _known, _remembered = re.compile(alternatives), frozenset(found)


def scrub_text(text: str) -> str:
    """`text` without any remembered secret, token-shaped string or URL credential: what a
    log line or a status message may say of a library's, a server's or a proxy's words."""
    known = _known
    if known is not None:
        text = known.sub(MASK, text)
    text = _JWT.sub(MASK, text)
    text = _SCHEME_TOKEN.sub(lambda match: f"{match[1] or match[2]} {MASK}", text)
    text = _SECRET_FIELD.sub(lambda match: (match["json"] or match["pair"]) + MASK, text)
    return mask_urls(text)


def secrets_in_url(url: str) -> list[str]:
    """What in `url` authenticates: its query values and the password of its user information,
    read from the text as written too: a '#', '?' or '/' left unencoded in a password ends the
    URL's authority for urlsplit and for urllib3, which then quote the part before it."""
    try:
        parts = urlsplit(url)
        query, netloc = parts.query, parts.netloc
    except ValueError:
        query, netloc = url.partition("?")[2], ""
    found = [item.partition("=")[2] for item in query.split("&") if "=" in item]
    found.append(netloc.rpartition("@")[0].partition(":")[2] if "@" in netloc else "")
    raw = _RAW_USERINFO.match(url)
    if raw:
        password = raw["userinfo"].partition(":")[2]
        prefix = re.split(r"[#?/]", password, maxsplit=1)[0]
        found.append(password)
        # Not a port, when the '@' was in a path: `http://host:8080/a@b`.
        found.append("" if prefix.isdigit() else prefix)
    return [value for value in found if value]


# The user information as written: everything up to the last '@' that a host follows.
_RAW_USERINFO = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*://(?P<userinfo>[^?]*)@"
    r"(?:[A-Za-z0-9._~%-]+|\[[0-9A-Fa-f:.]+\])(?::\d*)?(?:[/?#]|$)"
)


def secrets_in_header_value(value: str) -> list[str]:
    """A header value as a whole, and its credentials after the scheme (`Bearer <token>`)."""
    stripped = value.strip()
    return [stripped, stripped.rpartition(" ")[2]]
