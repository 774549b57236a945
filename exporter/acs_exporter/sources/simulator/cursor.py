"""The simulator's cursor: its position on the simulated clock (see simulator.py).

Saved in the shared envelope (acs_exporter.sources.cursor) as
`{"kind": "simulator", "version": 1, "position": {seed, origin, position, anchor_wall,
anchor_sim, time_scale}}`. The previous release saved the same fields flat beside
`"version": 1`; that is still read, so an upgrade continues exactly where it stopped. A cursor
that is neither is a SourceError `bad_cursor`, never a silent fresh start (which would count
the simulated calls again under a new seed and origin).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from acs_exporter.sources.base import Cursor
from acs_exporter.sources.cursor import CursorFormat, flat_legacy

_LEGACY_VERSION = 1
_INT_FIELDS = ("seed", "origin", "position")
_NUMBER_FIELDS = ("anchor_wall", "anchor_sim", "time_scale")


# The previous release saved the position's fields flat beside `"version": 1`.
CURSOR_FORMAT = CursorFormat("simulator", 1, legacy=flat_legacy(_LEGACY_VERSION, "seed"))


@dataclass(slots=True, kw_only=True)
class SimulatorState:
    """The simulator's position, as stored in the cursor."""

    seed: int  # the effective seed (chosen at random when not configured)
    origin: int  # simulated second the scenario started at
    position: int  # next simulated second to generate
    anchor_wall: float  # wall time at which the simulated clock read anchor_sim
    anchor_sim: float
    time_scale: float

    def simulated_now(self, wall: float) -> float:
        return self.anchor_sim + (wall - self.anchor_wall) * self.time_scale

    def to_cursor(self) -> Cursor:
        position: dict[str, Cursor] = {key: getattr(self, key) for key in _INT_FIELDS}
        position |= {key: getattr(self, key) for key in _NUMBER_FIELDS}
        return CURSOR_FORMAT.wrap(position)

    @classmethod
    def from_cursor(cls, cursor: Cursor) -> SimulatorState | None:
        """The state in `cursor`; None on a first start. Raises SourceError `bad_cursor` when
        `cursor` is not one this release or the previous one wrote."""
        position = CURSOR_FORMAT.unwrap(cursor)
        if position is None:
            return None
        if not isinstance(position, dict):
            raise CURSOR_FORMAT.error("its position is not an object")
        time_scale = _number(position, "time_scale")
        if time_scale <= 0:
            raise CURSOR_FORMAT.error(f"time_scale {time_scale} is not positive")
        return cls(
            seed=_int(position, "seed"),
            origin=_int(position, "origin"),
            position=_int(position, "position"),
            anchor_wall=_number(position, "anchor_wall"),
            anchor_sim=_number(position, "anchor_sim"),
            time_scale=time_scale,
        )


def _int(position: dict[str, Cursor], key: str) -> int:
    value = position.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise CURSOR_FORMAT.error(f"{key} is {value!r}, not an integer")


def _number(position: dict[str, Cursor], key: str) -> float:
    value = position.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise CURSOR_FORMAT.error(f"{key} is {value!r}, not a finite number")
