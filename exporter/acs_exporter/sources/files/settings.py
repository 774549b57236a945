"""Configuration of the exported-files source (a `sources:` entry with `type: files`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from acs_exporter.inputs.types import (
    DAY,
    READ_DURATION,
    FilePath,
    PollInterval,
    between,
    source_name,
)

# Default `max_line_bytes`: far above any ACS record (a few KiB), far below what hurts.
MAX_LINE_BYTES = 1024 * 1024
# Default `max_document_bytes`: the query API answers at most ~100 MB; parsed, a document takes
# several times its size.
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024
# Default `unterminated_line_timeout`, in poll intervals.
UNTERMINATED_LINE_POLLS = 10

UnterminatedLineTimeout = Annotated[timedelta, READ_DURATION, between(timedelta(0), 7 * DAY)]


class FilesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    type: Literal["files"]
    name: str = source_name("files")
    paths: list[FilePath] = Field(min_length=1, description="Files or glob patterns to replay.")
    format: Literal["auto", "diagnostic-jsonl", "log-analytics-json", "csv"] = "auto"
    progress: bool = Field(True, description="Show a progress bar on a terminal for large files.")
    poll_interval: PollInterval = timedelta(seconds=5)
    batch_records: int = Field(
        100_000,
        gt=0,
        le=10_000_000,
        description="At most this many records per poll; the rest follows at once.",
    )
    max_line_bytes: int = Field(
        MAX_LINE_BYTES,
        ge=1,
        le=1 << 30,
        description="Longer lines are rejected (line_too_long), read in chunks, never whole.",
    )
    max_document_bytes: int = Field(
        MAX_DOCUMENT_BYTES,
        ge=1024,
        le=4 << 30,
        description="A larger query-result (log-analytics-json) file is rejected unread "
        "(document_too_large): it is parsed whole.",
    )
    unterminated_line_timeout: UnterminatedLineTimeout | None = Field(
        None,
        description="A last line without a newline is complete once the file has not grown for "
        "this long (default: ten poll intervals), or at once when the file was rotated.",
    )

    @model_validator(mode="after")
    def _default_timeout(self) -> Self:
        if self.unterminated_line_timeout is None:
            self.unterminated_line_timeout = self.poll_interval * UNTERMINATED_LINE_POLLS
        return self

    @property
    def complete_after(self) -> float:
        """Seconds without growth after which an unterminated last line is complete."""
        timeout = self.unterminated_line_timeout
        return (
            self.poll_interval * UNTERMINATED_LINE_POLLS if timeout is None else timeout
        ).total_seconds()
