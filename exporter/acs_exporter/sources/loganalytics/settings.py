"""Configuration of one Log Analytics source (a `sources:` entry with `type: log_analytics`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Table = Literal["ACSCallSummary", "ACSCallAutomationMediaSummary"]


class LogAnalyticsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["log_analytics"]
    name: str = Field("log-analytics", description="Source name: `source` label, checkpoint key.")
    workspace_ids: list[str] = Field(default_factory=list)
    resource_ids: list[str] = Field(default_factory=list)
    endpoint: str = "https://api.loganalytics.io"
    audience: str | None = None
    tables: list[Table] = Field(default_factory=lambda: list[Table](["ACSCallSummary"]))
    mode: Literal["aggregated", "raw"] = "aggregated"
    poll_interval: timedelta = timedelta(seconds=60)
    safety_lag: timedelta = timedelta(minutes=2)
    max_window: timedelta = timedelta(hours=1)
