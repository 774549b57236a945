"""The metrics batch API's answer (`POST /subscriptions/{id}/metrics:getBatch`), read from its
JSON body, strictly: what the source counts must be exactly what the service said.

    {"values": [{"resourceid": ..., "starttime", "endtime", "interval": "PT1M", "value": [
        {"id": ".../providers/Microsoft.Insights/metrics/NAME", "name": {"value": NAME},
         "errorCode": "Success", "timeseries": [
            {"metadatavalues": [{"name": {"value": "eventtypename"}, "value": "PlayFailed"}],
             "data": [{"timeStamp": "2026-11-25T12:00:00Z", "count": 3.0}]}]}]}]}

A body that cannot be read (not JSON, a missing or null structure, a timestamp that is not
one) is a ResponseError naming where; a resource whose metric failed (`errorCode` other than
Success) or that is missing from the answer is a ResourceFailure. Bad values inside a
well-formed series (a missing dimension, a count that is not a whole number) are left to the
source, which rejects them by reason and counts them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from acs_exporter.inputs.redact import shorten, shorten_repr


class ResponseError(Exception):
    """The body is not a batch answer the exporter can read."""


class ResourceFailure(Exception):
    """The service answered, but not for this resource (`resource` is its lower-cased id)."""

    def __init__(self, resource: str, what: str) -> None:
        super().__init__(what)
        self.resource = resource


@dataclass(frozen=True)
class Point:
    minute: datetime  # start of the one-minute bucket
    count: object  # as received: a number, None (no data), or garbage


@dataclass(frozen=True)
class Series:
    dimensions: Mapping[str, str]  # lower-cased dimension name -> value
    points: Sequence[Point]


@dataclass
class MetricAnswer:
    """One metric of one resource."""

    series: list[Series] = field(default_factory=list)


def parse_batch(payload: bytes, metric: str, resources: Sequence[str]) -> dict[str, MetricAnswer]:
    """`metric`'s series per requested resource (lower-cased id). Raises ResponseError or
    ResourceFailure (the first failed resource)."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise ResponseError(
            f"not JSON ({error}): {shorten(payload[:200].decode(errors='replace'), 120)}"
        ) from None
    values = document.get("values") if isinstance(document, dict) else None
    if not isinstance(values, list):
        raise ResponseError(f"no `values` list in the body ({shorten_repr(document)})")
    answers: dict[str, MetricAnswer] = {}
    for index, entry in enumerate(values):
        if not isinstance(entry, dict):
            raise ResponseError(f"values[{index}] is not an object ({shorten_repr(entry)})")
        key, answer = _resource_answer(entry, metric, f"values[{index}]")
        answers[key] = answer
    for resource in resources:
        if resource.lower() not in answers:
            raise ResourceFailure(resource.lower(), "missing from the service's answer")
    return answers


def _resource_answer(entry: Mapping[str, Any], metric: str, where: str) -> tuple[str, MetricAnswer]:
    interval = entry.get("interval")
    if interval is not None and interval != "PT1M":
        # A coarser grain would make one point cover minutes counted before or not settled.
        raise ResponseError(f"{where}: interval {shorten_repr(interval)}, asked for PT1M")
    metrics = entry.get("value")
    if not isinstance(metrics, list):
        raise ResponseError(f"{where}.value is not a list ({shorten_repr(metrics)})")
    resource = entry.get("resourceid")
    wanted = [m for m in metrics if isinstance(m, dict) and _name(m) == metric.lower()]
    if not isinstance(resource, str) or not resource:
        resource = _resource_of_metric(wanted[0]) if wanted else None
        if resource is None:
            raise ResponseError(f"{where} has no resourceid")
    key = resource.lower()
    if not wanted:
        raise ResourceFailure(key, f"no {metric} in the answer")
    found = wanted[0]
    code = found.get("errorCode")
    if code not in (None, "Success"):
        message = found.get("errorMessage") or ""
        raise ResourceFailure(key, f"{metric}: {code}: {shorten(str(message), 300)}")
    return key, MetricAnswer(_series_list(found, f"{where} {metric}"))


def _name(metric: Mapping[str, Any]) -> str | None:
    name = metric.get("name")
    value = name.get("value") if isinstance(name, dict) else None
    return value.lower() if isinstance(value, str) else None


def _resource_of_metric(metric: Mapping[str, Any]) -> str | None:
    """The resource a metric id belongs to (`{resource}/providers/Microsoft.Insights/...`)."""
    identifier = metric.get("id")
    if not isinstance(identifier, str):
        return None
    head, sep, _ = identifier.lower().partition("/providers/microsoft.insights/metrics/")
    return head if sep else None


def _series_list(metric: Mapping[str, Any], where: str) -> list[Series]:
    timeseries = metric.get("timeseries")
    if timeseries is None:  # no series at all: nothing happened in the window
        return []
    if not isinstance(timeseries, list):
        raise ResponseError(f"{where}: timeseries is not a list ({shorten_repr(timeseries)})")
    return [_series(item, f"{where} timeseries[{i}]") for i, item in enumerate(timeseries)]


def _series(item: object, where: str) -> Series:
    if not isinstance(item, dict):
        raise ResponseError(f"{where} is not an object ({shorten_repr(item)})")
    dimensions: dict[str, str] = {}
    for meta in item.get("metadatavalues") or ():
        name = meta.get("name") if isinstance(meta, dict) else None
        label = name.get("value") if isinstance(name, dict) else None
        value = meta.get("value") if isinstance(meta, dict) else None
        if isinstance(label, str) and isinstance(value, str):
            dimensions[label.lower()] = value
        # A null name or value is a missing dimension: the source rejects the series.
    data = item.get("data")
    if data is None:
        return Series(dimensions, ())
    if not isinstance(data, list):
        raise ResponseError(f"{where}: data is not a list ({shorten_repr(data)})")
    return Series(dimensions, tuple(_point(p, f"{where} data[{i}]") for i, p in enumerate(data)))


def _point(point: object, where: str) -> Point:
    if not isinstance(point, dict):
        raise ResponseError(f"{where} is not an object ({shorten_repr(point)})")
    stamp = point.get("timeStamp")
    try:
        if not isinstance(stamp, str):
            raise ValueError
        minute = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise ResponseError(f"{where}: timeStamp {shorten_repr(stamp)} is not a time") from None
    if minute.tzinfo is None:
        minute = minute.replace(tzinfo=UTC)
    if minute.second or minute.microsecond:
        raise ResponseError(f"{where}: timeStamp {stamp} is not the start of a minute")
    return Point(minute.astimezone(UTC), point.get("count"))
