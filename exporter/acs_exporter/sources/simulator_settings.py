"""Configuration of the built-in simulator (a `sources:` entry with `type: simulator`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SimulatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["simulator"] = "simulator"
    name: str = Field("simulator", description="Source name: `source` label, checkpoint key.")
    scenario: Literal["steady", "server-error-spike"] = "steady"
    calls_per_second: float = Field(
        5.0, gt=0, description="Participant call ends per simulated second."
    )
    time_scale: float = Field(1.0, gt=0, description="Simulated seconds per real second.")
    seed: int | None = None
    # server-error-spike: when (simulated time since start) and for how long
    # UnexpectedServerError rises.
    spike_start: timedelta = timedelta(minutes=10)
    spike_duration: timedelta = timedelta(minutes=5)
    spike_server_error_share: float = Field(0.3, ge=0, le=1)
    # Debugging and tests: append every generated call end and media result here as JSON lines
    # (media results with "table": "ACSCallAutomationMediaSummary").
    record_file: Path | None = None
    poll_interval: timedelta = timedelta(seconds=1)
