"""The breakdown labels whose values are derived from a raw column, each defined once, twice spelt.

`resource`, `sdk_version` and `os` are not copied from their column as `call_type` is: the raw
values (a full resource id, a patch-level SDK version, an OS version string or a browser user
agent) have too many values to be labels. Each `Normalisation` holds the one rule in both
languages the exporter speaks it in:

- `python(raw)`: used where records are read one by one (the files source, the Log Analytics
  source in raw mode, the simulator);
- `kql(column)`: the same rule as a KQL expression, used by the Log Analytics source in
  aggregated mode so the query still returns one row per series.

The two are built from the same data (the patterns and the OS rules below), and
tests/definitions/test_breakdowns.py runs a shared table of raw values through both (Python,
and the KQL on fixture rows through the Kusto language service and duckdb-kql) and requires
the same label. A missing value (None, or the empty string Kusto has instead of null) is
`unknown`, never an empty label, so both sides agree on it too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from acs_exporter.definitions.raw_values import rememberable

UNKNOWN: Final = "unknown"


@dataclass(frozen=True, slots=True)
class Normalisation:
    """One raw column -> label rule, in Python and in KQL (`kql(column)` is an expression)."""

    name: str
    python: Callable[[object], str]
    kql: Callable[[str], str]


# Raw values repeat (a fleet has a few resources, releases and platforms), so each rule keeps
# its answers: a dict lookup a record, not a regex. Bounded: past the bound it stops adding,
# and a value longer than a resource id or a user agent is not kept (raw_values.py).
_CACHE_SIZE: Final = 8192
_MAX_KEY_CHARS: Final = 512


def _memo(rule: Callable[[str], str]) -> Callable[[object], str]:
    answers: dict[object, str] = {}

    def normalise(raw: object) -> str:
        found = answers.get(raw)
        if found is None:
            found = rule(_text(raw))
            if (
                len(answers) < _CACHE_SIZE
                and isinstance(raw, str | None)
                and rememberable(_MAX_KEY_CHARS, raw)
            ):
                answers[raw] = found
        return found

    normalise.__doc__ = rule.__doc__
    return normalise


def _text(raw: object) -> str:
    # Sources hand strings (or None); a number in a JSON export is read as its text.
    if raw is None or isinstance(raw, bool):
        return ""
    return raw if isinstance(raw, str) else str(raw)


def _kql_string(value: str) -> str:
    # Only the module's own constants are quoted: no quote or backslash in them to escape.
    if '"' in value or "\\" in value:
        raise ValueError(f"not a plain KQL literal: {value!r}")
    return f'"{value}"'


# --- resource: the last segment of the resource id, lower-cased -------------------------------

# The last non-empty path segment (trailing slashes ignored). RE2 (Kusto) and Python's `re`
# agree on it: no backslash classes, only `[^/]`.
_RESOURCE_PATTERN: Final = "([^/]+)/*$"
_RESOURCE_RE: Final = re.compile(_RESOURCE_PATTERN)


def _resource(text: str) -> str:
    """`/subscriptions/.../COMMUNICATIONSERVICES/ACS-PROD` -> `acs-prod`; empty -> `unknown`."""
    found = _RESOURCE_RE.search(text)
    return found.group(1).lower() if found else UNKNOWN


resource_name: Final = _memo(_resource)


def _resource_kql(column: str) -> str:
    # Kusto's coalesce() skips empty strings as well as nulls: both become "unknown".
    pattern = _kql_string(_RESOURCE_PATTERN)
    return f"coalesce(tolower(extract({pattern}, 1, {column})), {_kql_string(UNKNOWN)})"


# --- sdk_version: major.minor -----------------------------------------------------------------

# The first `digits.digits` in the value: `1.30.1` -> `1.30`, `1.29.0-beta.2` -> `1.29`.
_RELEASE_PATTERN: Final = "([0-9]+[.][0-9]+)"
_RELEASE_RE: Final = re.compile(_RELEASE_PATTERN)


def _release(text: str) -> str:
    """`1.30.1` -> `1.30`; `Redacted`, empty or no `major.minor` in it -> `unknown`."""
    found = _RELEASE_RE.search(text)
    return found.group(1) if found else UNKNOWN


sdk_release: Final = _memo(_release)


def _release_kql(column: str) -> str:
    pattern = _kql_string(_RELEASE_PATTERN)
    return f"coalesce(extract({pattern}, 1, {column}), {_kql_string(UNKNOWN)})"


# --- os: the family -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OsRule:
    """`family` when the lower-cased value contains one of `contains` or starts with one of
    `starts`. Rules are tried in order: iOS and Android user agents also name Mac OS X and
    Linux, so they come first. Needles are whole words where a shorter one would catch
    another platform (`os x` is in ChromeOS's `CrOS x86_64`; `Mac OS X` has `mac os`)."""

    family: str
    contains: tuple[str, ...] = ()
    starts: tuple[str, ...] = ()


OS_RULES: Final = (
    OsRule("ios", contains=("iphone", "ipad", "ipod"), starts=("ios",)),
    OsRule("android", contains=("android",)),
    OsRule("windows", contains=("windows", "win32", "win64")),
    OsRule("macos", contains=("mac os", "macos", "macintosh", "darwin", "osx")),
    OsRule("linux", contains=("linux", "x11", "ubuntu", "debian", "fedora", "chromeos")),
)
OS_FAMILIES: Final = (*(rule.family for rule in OS_RULES), "other", UNKNOWN)
# What ACS writes for cross-tenant participants, and the label itself (a value read again).
_NO_OS: Final = ("redacted", UNKNOWN)


def _os(text: str) -> str:
    """`Windows 10.0.19045`, a Windows browser user agent -> `windows`; `Redacted`, empty ->
    `unknown`; a value no rule knows -> `other`."""
    lowered = text.lower()
    if not lowered or lowered in _NO_OS:
        return UNKNOWN
    for rule in OS_RULES:
        if any(n in lowered for n in rule.contains) or lowered.startswith(rule.starts):
            return rule.family
    return "other"


os_family: Final = _memo(_os)


def _os_kql(column: str) -> str:
    # Kusto's `contains`, `startswith` and `=~` ignore case, as the lower-cased Python does.
    missing = " or ".join(f"{column} =~ {_kql_string(v)}" for v in _NO_OS)
    arms = [f"isempty({column}) or {missing}", _kql_string(UNKNOWN)]
    for rule in OS_RULES:
        tests = [f"{column} contains {_kql_string(n)}" for n in rule.contains]
        tests += [f"{column} startswith {_kql_string(s)}" for s in rule.starts]
        arms += [" or ".join(tests), _kql_string(rule.family)]
    return f"case({', '.join(arms)}, {_kql_string('other')})"


RESOURCE: Final = Normalisation("resource", resource_name, _resource_kql)
SDK_RELEASE: Final = Normalisation("sdk_version", sdk_release, _release_kql)
OS_FAMILY: Final = Normalisation("os", os_family, _os_kql)
