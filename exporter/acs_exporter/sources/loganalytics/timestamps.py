"""Kusto datetimes at full precision (100 ns ticks).

Log Analytics keeps `ingestion_time()` to the tick (7 fractional digits); Python's datetime
stops at microseconds. An exclusive watermark that lost its last digit would re-read the record
it came from, so cursors stay strings and window arithmetic happens on integer ticks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from acs_exporter.inputs.redact import shorten_repr

TICKS_PER_SECOND = 10_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidTimestamp(ValueError):
    """A datetime string that is not ISO-8601 UTC as Kusto writes it."""


def parse_ticks(text: str) -> int:
    """'2026-11-25T10:05:00.1234567Z' (0 to 7 fractional digits, 'Z' or no zone) -> ticks."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1]
    elif value.endswith("+00:00"):
        value = value[:-6]
    whole, _, fraction = value.partition(".")
    if len(fraction) > 7 or not (fraction.isdecimal() or fraction == ""):
        raise InvalidTimestamp(f"invalid Kusto datetime {shorten_repr(text)}")
    try:
        seconds = datetime.fromisoformat(whole).replace(tzinfo=UTC)
    except ValueError as error:
        raise InvalidTimestamp(f"invalid Kusto datetime {shorten_repr(text)}") from error
    delta = seconds - _EPOCH
    whole_seconds = delta.days * 86_400 + delta.seconds
    return whole_seconds * TICKS_PER_SECOND + int(fraction.ljust(7, "0") or "0")


def format_ticks(ticks: int) -> str:
    """Ticks -> '2026-11-25T10:05:00.1234567Z', always 7 fractional digits (sortable as text)."""
    seconds, remainder = divmod(ticks, TICKS_PER_SECOND)
    moment = _EPOCH + timedelta(seconds=seconds)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{remainder:07d}Z"


def canonical(text: str) -> str:
    """Any accepted spelling -> the fixed-width form used in cursors and KQL literals."""
    return format_ticks(parse_ticks(text))


def ticks_from_datetime(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise InvalidTimestamp(f"naive datetime {moment!r}: expected a UTC-aware datetime")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10


def ticks_from_timedelta(span: timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * TICKS_PER_SECOND + span.microseconds * 10


def datetime_from_ticks(ticks: int) -> datetime:
    """Truncates to microseconds: for display and metrics only, never for watermarks."""
    seconds, remainder = divmod(ticks, TICKS_PER_SECOND)
    return _EPOCH + timedelta(seconds=seconds, microseconds=remainder // 10)


def span(values: list[str]) -> tuple[int, int] | None:
    """The earliest and the latest (ticks) of many Kusto datetime strings, fast when they share
    one spelling; None when there are none."""
    if not values:
        return None
    if len(set(map(len, values))) == 1:
        # One width and one format: text order is time order (C-speed min/max over 100k rows).
        return parse_ticks(min(values)), parse_ticks(max(values))
    ticks = list(map(parse_ticks, values))
    return min(ticks), max(ticks)
