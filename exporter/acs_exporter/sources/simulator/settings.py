"""Configuration of the built-in simulator (a `sources:` entry with `type: simulator`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from acs_exporter.inputs.types import (
    READ_DURATION,
    FilePath,
    PollInterval,
    between,
    source_name,
)

# Generated call ends per real second (calls_per_second x time_scale): beyond this the
# simulator would spend the machine generating records rather than exporting them.
MAX_RECORDS_PER_SECOND = 100_000
SpikeDuration = Annotated[timedelta, READ_DURATION, between(timedelta(0), timedelta(days=365))]


class SimulatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    type: Literal["simulator"] = "simulator"
    name: str = source_name("simulator")
    scenario: Literal["steady", "server-error-spike", "bad-release"] = "steady"
    calls_per_second: float = Field(
        5.0,
        gt=0,
        le=MAX_RECORDS_PER_SECOND,
        description="Participant call ends per simulated second.",
    )
    time_scale: float = Field(
        1.0, gt=0, le=MAX_RECORDS_PER_SECOND, description="Simulated seconds per real second."
    )
    seed: int | None = Field(None, ge=-(2**63), lt=2**64)
    # server-error-spike: when (simulated time since start) and for how long
    # UnexpectedServerError rises.
    spike_start: SpikeDuration = timedelta(minutes=10)
    spike_duration: SpikeDuration = timedelta(minutes=5)
    spike_server_error_share: float = Field(0.3, ge=0, le=1)
    # bad-release: over the same window, this share of the call ends of clients on the newest
    # SDK release (clients.BAD_RELEASE) become UnexpectedClientError.
    bad_release_client_error_share: float = Field(0.25, ge=0, le=1)
    # Debugging and tests: append every generated call end and media result here as JSON lines
    # (media results with "table": "ACSCallAutomationMediaSummary").
    record_file: FilePath | None = None
    poll_interval: PollInterval = timedelta(seconds=1)

    @model_validator(mode="after")
    def _bounded_rate(self) -> SimulatorSettings:
        if self.calls_per_second * self.time_scale > MAX_RECORDS_PER_SECOND:
            raise ValueError(
                f"calls_per_second x time_scale must be at most {MAX_RECORDS_PER_SECOND} "
                "call ends per real second"
            )
        return self
