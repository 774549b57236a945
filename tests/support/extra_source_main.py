"""`acs-exporter` with one test-only source type, `constant`, registered the way a new source
type is: its own module (this one) and one registry entry. Nothing else of the exporter knows
it; config validation, wiring, polling and the zero-initialised reasons come from the entry.

The `constant` source reports `calls` call ends with (code, subcode) per poll, and counts its
polls in its cursor (so a restart continues the count).
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from acs_exporter.definitions.tables import CALL_SUMMARY
from acs_exporter.inputs.types import PollInterval
from acs_exporter.sources import registry
from acs_exporter.sources.base import Batch, Cursor, Observation
from acs_exporter.sources.cursor import CursorFormat

CURSOR_FORMAT = CursorFormat("constant", 1)
QUERY_ERRORS = ("constant_unplugged",)


class ConstantSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["constant"]
    name: str = Field("constant", min_length=1)
    code: int = Field(0, ge=0, le=999)
    subcode: int = Field(0, ge=0)
    calls: int = Field(1, ge=1, le=1000)
    poll_interval: PollInterval = Field(timedelta(seconds=1))


class ConstantSource:
    def __init__(self, settings: ConstantSettings) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        return self.settings.name

    def fetch(self, cursor: Cursor) -> Batch:
        polls = CURSOR_FORMAT.unwrap(cursor) or 0
        if not isinstance(polls, int):
            raise CURSOR_FORMAT.error(f"polls is {polls!r}")
        ends = [
            Observation(str(self.settings.code), str(self.settings.subcode), n=self.settings.calls)
        ]
        return Batch({CALL_SUMMARY: ends}, cursor=CURSOR_FORMAT.wrap(polls + 1))

    def close(self) -> None:
        pass


def build(settings: ConstantSettings, wiring: registry.Wiring) -> ConstantSource:
    return ConstantSource(settings)


ENTRY = registry.SourceType(
    "constant", ConstantSettings, build, query_errors=QUERY_ERRORS, cursor=CURSOR_FORMAT
)


if __name__ == "__main__":
    registry.register(ENTRY)  # before the configuration model is built (by importing cli)
    from acs_exporter.cli import main

    sys.exit(main())
