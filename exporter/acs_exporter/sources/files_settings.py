"""Configuration of the exported-files source (a `sources:` entry with `type: files`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from acs_exporter.settings_types import NAME_LENGTH, PollInterval


class FilesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    type: Literal["files"]
    name: str = Field(
        "files",
        min_length=1,
        max_length=NAME_LENGTH,
        description="Source name: `source` label, checkpoint key.",
    )
    paths: list[Path] = Field(min_length=1, description="Files or glob patterns to replay.")
    format: Literal["auto", "diagnostic-jsonl", "log-analytics-json", "csv"] = "auto"
    progress: bool = Field(True, description="Show a progress bar on a terminal for large files.")
    poll_interval: PollInterval = timedelta(seconds=5)
    batch_records: int = Field(
        100_000,
        gt=0,
        le=10_000_000,
        description="At most this many records per poll; the rest follows at once.",
    )
