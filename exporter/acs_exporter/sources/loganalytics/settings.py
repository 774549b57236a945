"""Configuration of one Log Analytics source (a `sources:` entry with `type: log_analytics`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from acs_exporter.definitions.tables import ExtraLabel, TableName
from acs_exporter.inputs.types import (
    DAY,
    READ_DURATION,
    SECOND,
    BaseUrl,
    FilePath,
    PollInterval,
    ResourceId,
    WorkspaceId,
    between,
    source_name,
)

# Log Analytics keeps data for at most two years (interactive retention).
RETENTION = timedelta(days=730)
SafetyLag = Annotated[timedelta, READ_DURATION, between(timedelta(0), DAY)]
MaxWindow = Annotated[timedelta, READ_DURATION, between(SECOND, timedelta(days=7))]
Lookback = Annotated[timedelta, READ_DURATION, between(timedelta(0), RETENTION)]  # >= 2d: _check
InitialLookback = Annotated[timedelta, READ_DURATION, between(timedelta(0), RETENTION)]
# `Prefer: wait=N`: the service waits at most 10 minutes.
ServerTimeout = Annotated[timedelta, READ_DURATION, between(SECOND, timedelta(minutes=10))]


def canonical_resource_id(resource_id: str) -> str:
    """One spelling per ACS resource: Azure resource ids are case-insensitive (the portal
    writes `resourceGroups/...`, other tools `resourcegroups/...`) and a trailing '/' names
    the same resource. Cursor keys and the duplicate check use it."""
    return "/" + resource_id.strip("/").lower()


def _first_repeat(values: list[str], same: Callable[[str], str]) -> tuple[int, int] | None:
    """(earlier index, index) of the first entry naming what an earlier one names."""
    seen: dict[str, int] = {}
    for index, value in enumerate(values):
        earlier = seen.setdefault(same(value), index)
        if earlier != index:
            return earlier, index
    return None


class LogAnalyticsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    type: Literal["log_analytics"]
    name: str = source_name("log-analytics")
    workspace_ids: list[WorkspaceId] = Field(
        default_factory=list,
        description="Workspace ids (GUIDs). All of them share one query: the first is queried, "
        "the others ride along as `workspaces` (cross-workspace query).",
    )
    resource_ids: list[ResourceId] = Field(
        default_factory=list,
        description="ACS resource ids (/subscriptions/.../communicationServices/NAME) for "
        "resource-centric queries; one query each.",
    )
    endpoint: BaseUrl = "https://api.loganalytics.io"
    audience: str | None = Field(
        None, description="Token audience; defaults to the endpoint (set it for sovereign clouds)."
    )
    tables: list[TableName] = Field(default_factory=lambda: list[TableName](["ACSCallSummary"]))
    mode: Literal["aggregated", "raw"] = "aggregated"
    # Chosen for time to page (docs/operations.md, bench/bench_page.py): together they are
    # the exporter's part of it, safety_lag + up to poll_interval.
    poll_interval: PollInterval = timedelta(seconds=30)
    safety_lag: SafetyLag = timedelta(minutes=1)
    max_window: MaxWindow = timedelta(hours=1)
    # --- additions of the Log Analytics issue ---
    extra_labels: list[ExtraLabel] = Field(
        default_factory=list,
        description="ACSCallSummary columns to group by besides those of "
        "`metrics.extra_labels` (which the query always groups by).",
    )
    time_generated_lookback: Lookback = Field(
        timedelta(days=3),
        description="How far before the window start TimeGenerated may lie. Records can be "
        "back-dated up to ~2 days; the bound only lets the engine prune old partitions.",
    )
    initial_lookback: InitialLookback = Field(
        timedelta(0),
        description="On the very first start (no checkpoint), also count records ingested this "
        "long before start-up. 0 counts from start-up on.",
    )
    server_timeout: ServerTimeout | None = Field(
        None,
        description="`Prefer: wait` sent with each query; defaults to 3/4 of poll_interval "
        "(at least 1 s, at most 10 min) so a slow query fails before the next poll is due.",
    )
    tls_ca_file: FilePath | None = Field(
        None, description="CA bundle to trust for the endpoint (private links, TLS proxies)."
    )

    @model_validator(mode="after")
    def _check(self) -> LogAnalyticsSettings:
        if not self.workspace_ids and not self.resource_ids:
            raise ValueError("set workspace_ids or resource_ids (at least one)")
        self._check_repeats()
        if not self.tables:
            raise ValueError("tables: list at least one table")
        if len(set(self.tables)) != len(self.tables):
            raise ValueError("tables: each table may be listed once")
        if self.time_generated_lookback < timedelta(days=2):
            raise ValueError(
                "time_generated_lookback must be at least 2 days: records may be back-dated "
                "that far and would be missed"
            )
        for name in ("poll_interval", "max_window"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        if self.safety_lag < timedelta(0) or self.initial_lookback < timedelta(0):
            raise ValueError("safety_lag and initial_lookback must not be negative")
        return self

    def _check_repeats(self) -> None:
        """The same workspace or resource twice would be queried (and counted) twice."""
        for name, kind, same in (
            ("workspace_ids", "workspace", str.lower),  # GUIDs: case-insensitive
            ("resource_ids", "resource", canonical_resource_id),
        ):
            values: list[str] = getattr(self, name)
            repeat = _first_repeat(values, same)
            if repeat is not None:
                earlier, index = repeat
                raise ValueError(
                    f"{name}[{index}] {values[index]!r} names the same {kind} as "
                    f"{name}[{earlier}] {values[earlier]!r} (ids are case-insensitive): its "
                    "records would be counted twice; list each once"
                )

    def effective_server_timeout(self) -> int:
        """Seconds for `Prefer: wait=N`."""
        if self.server_timeout is not None:
            seconds = self.server_timeout.total_seconds()
        else:
            seconds = self.poll_interval.total_seconds() * 0.75
        return int(min(600, max(1, seconds)))
