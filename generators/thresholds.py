"""alerts/thresholds.yaml: every alert threshold in one place, shared by the rule and dashboard
generators so an alert and the line drawn for it on a dashboard never disagree."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PATH = REPO / "alerts" / "thresholds.yaml"

# Windows the recording rules keep an UnexpectedServerError ratio for.
SLO_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")

# ASCII digits and no trailing newline, as Go's regexp (the chart's values schema) reads it:
# Python's \d takes any Unicode digit and its `$` matches before a final newline.
_DURATION = re.compile(r"^([0-9]+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _check_duration(value: str) -> str:
    if not _DURATION.fullmatch(value):
        raise ValueError(f"{value!r} is not a duration like 30s, 5m, 1h or 1d")
    return value


# The pattern is for the Helm chart's values schema (generators/helm_rules.py); the validator
# gives the error message.
Duration = Annotated[
    str, AfterValidator(_check_duration), Field(json_schema_extra={"pattern": _DURATION.pattern})
]
Share = Annotated[float, Field(gt=0, lt=1)]


def seconds(duration: str) -> int:
    match = _DURATION.fullmatch(duration)
    if match is None:
        raise ValueError(f"{duration!r} is not a duration")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Slo(_Strict):
    target: Share
    min_calls_long_window: int = Field(ge=0)


class ServerErrorSpike(_Strict):
    share: Share
    baseline_factor: float = Field(gt=1)
    baseline_window: Duration
    baseline_offset: Duration
    min_calls: int = Field(ge=0)
    for_: Duration = Field(alias="for")

    @field_validator("baseline_window")
    @classmethod
    def _recorded_window(cls, value: str) -> str:
        if value not in SLO_WINDOWS:
            raise ValueError(f"must be one of {', '.join(SLO_WINDOWS)} (a recorded window)")
        return value


class ServerErrorSevereSpike(_Strict):
    """The fast tier: a severe share over a short window pages within minutes."""

    window: Duration
    share: Share
    min_calls: int = Field(ge=0)
    for_: Duration = Field(alias="for")
    evaluation_interval: Duration

    @field_validator("window")
    @classmethod
    def _own_window(cls, value: str) -> str:
        # Its recordings live in a group of their own: a window the call-outcome group also
        # records would be two rules writing one series.
        if value in SLO_WINDOWS:
            raise ValueError(f"must not be one of {', '.join(SLO_WINDOWS)} (recorded elsewhere)")
        return value


class ClientErrorHigh(_Strict):
    share: Share
    min_calls: int = Field(ge=0)
    for_: Duration = Field(alias="for")


class UnknownEndReasons(_Strict):
    window: Duration
    for_: Duration = Field(alias="for")


class CategoryDisagreements(_Strict):
    window: Duration
    min_records: int = Field(ge=1)
    share: Share
    for_: Duration = Field(alias="for")


class MediaFailureHigh(_Strict):
    share: Share
    min_operations: int = Field(ge=0)
    for_: Duration = Field(alias="for")


class CallAutomationFailureBurst(_Strict):
    share: Share
    min_events: int = Field(ge=0)
    for_: Duration = Field(alias="for")


class Exporter(_Strict):
    down_for: Duration
    poll_stale_after: Duration
    poll_stale_for: Duration
    cursor_lag: Duration
    cursor_lag_for: Duration
    poll_failure_share: Share
    poll_failure_for: Duration
    throttled_queries: int = Field(ge=1)
    throttled_for: Duration
    discovery_failures: int = Field(ge=1)
    discovery_failures_window: Duration
    discovery_failures_for: Duration
    incomplete_results_window: Duration
    rejected_share: Share
    rejected_for: Duration
    series_limit_share: Share
    series_limit_for: Duration
    folded_window: Duration
    reload_failed_for: Duration


class SharedState(_Strict):
    """The alerts of state.backend azure_blob: a leader and hot standbys over one blob."""

    store_down_for: Duration
    no_leader_for: Duration
    many_leaders_for: Duration
    write_conflict_window: Duration


class Thresholds(_Strict):
    runbook_url_base: str
    exporter_job_selector: str
    aggregation_labels: list[str] = Field(min_length=1)
    slo: Slo
    server_error_spike: ServerErrorSpike
    server_error_severe_spike: ServerErrorSevereSpike
    client_error_high: ClientErrorHigh
    unknown_end_reasons: UnknownEndReasons
    category_disagreements: CategoryDisagreements
    media_failure_high: MediaFailureHigh
    call_automation_failure_burst: CallAutomationFailureBurst
    exporter: Exporter
    shared_state: SharedState


class ThresholdsError(Exception):
    """thresholds.yaml is unreadable or invalid; the message names the file and the field."""


def load(path: Path = DEFAULT_PATH) -> Thresholds:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ThresholdsError(f"{path}: {error}") from error
    try:
        return Thresholds.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
            for e in error.errors()
        )
        raise ThresholdsError(f"{path}: {problems}") from error
