"""The built-in simulator: ACSCallSummary-like call ends at a steady rate, on a simulated clock.

Time is cut into simulated seconds. Everything generated for a second comes from a random
generator seeded with (seed, second), so what the simulator produces for a stretch of
simulated time does not depend on how often it is polled, and a restart from a persisted cursor
continues exactly where the counts stopped: no call is produced twice or skipped.

The simulated clock runs `time_scale` times faster than the wall clock from an anchor kept in
the cursor, so after a downtime the simulator catches up (in bounded batches) like a real
source would, and with `time_scale: 1` the watermark is simply the wall clock.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from typing import IO

import orjson

from acs_exporter.catalog import Catalog, Category, Domain
from acs_exporter.definitions.breakdowns import resource_name
from acs_exporter.definitions.tables import CALL_SUMMARY, MEDIA_SUMMARY
from acs_exporter.sources.base import Batch, Cursor, Observation, SourceError
from acs_exporter.sources.simulator.clients import (
    Client,
    break_release,
    draw_clients,
    draw_resources,
)
from acs_exporter.sources.simulator.cursor import SimulatorState
from acs_exporter.sources.simulator.reasons import QueryError
from acs_exporter.sources.simulator.scenarios import (
    MEDIA_OPERATIONS_PER_SERVER_CALL,
    MEDIA_TABLE,
    MIXES,
    ODD_REASONS,
    PROFILES,
    SERVER_ERROR_REASONS,
    Reason,
    WeightedReasons,
    reason_table,
    server_error_share,
)
from acs_exporter.sources.simulator.settings import SimulatorSettings

log = logging.getLogger(__name__)

# Upper bound on call ends per fetch, so catching up after a downtime keeps memory flat.
MAX_RECORDS_PER_FETCH = 100_000
# record_file lines of media results carry this `table`; call-end lines carry none.
# Share of the documented call-end entries of the catalog (the long tail) in every mix.
CATALOG_TAIL_SHARE = 0.01


def _catalog_tail(catalog: Catalog) -> tuple[tuple[Reason, float], ...]:
    """Every other documented call-end (code, subcode) of the catalog, sharing
    CATALOG_TAIL_SHARE, so that dashboards on the simulator show the catalog's long tail.

    Server errors are left out: they come only from the scenario's server-error share, so
    that share is exactly what the scenario says.
    """
    # Reasons the hand-weighted mixes already draw are left out too: the tail is the rest.
    mixed = [r for rows in (*MIXES.values(), ODD_REASONS) for r, _ in rows]
    known = {(r.code, r.subcode) for r in mixed} | {
        (r.code, r.subcode) for r, _ in SERVER_ERROR_REASONS
    }
    entries = sorted(
        {
            (e.code, e.subcode, e.category.value)
            for e in catalog.entries
            if e.domain is Domain.CALL_END
            and e.code is not None
            and e.subcode is not None
            and e.category is not None
            and e.category not in (Category.UNEXPECTED_SERVER_ERROR, Category.UNKNOWN)
            and (str(e.code), str(e.subcode)) not in known
        }
    )
    if not entries:
        return ()
    # MIXES weights are per mille; the tail gets CATALOG_TAIL_SHARE of that.
    weight = 1000 * CATALOG_TAIL_SHARE / len(entries)
    return tuple((Reason(str(c), str(s), cat), weight) for c, s, cat in entries)


class Simulator:
    """A Source producing a plausible production mix of ACS participant call ends."""

    def __init__(
        self,
        settings: SimulatorSettings,
        catalog: Catalog,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._tail = _catalog_tail(catalog)
        self._tables: dict[tuple[str, float], WeightedReasons] = {}
        self._dims: dict[tuple[int, Client], tuple[tuple[str, str], ...]] = {}
        self._profiles = tuple(p for p, _ in PROFILES)
        self._profile_cum = tuple(accumulate(w for _, w in PROFILES))
        self._record: IO[bytes] | None = None
        # Simulated seconds below this were already written to record_file by this process: a
        # re-fetch from an older cursor (after a failed apply) must not write them twice.
        self._recorded_until: int | None = None
        self._per_second_whole = math.floor(settings.calls_per_second)
        self._per_second_fraction = settings.calls_per_second - self._per_second_whole
        self._max_seconds = max(
            1, MAX_RECORDS_PER_FETCH // max(1, math.ceil(settings.calls_per_second))
        )

    @property
    def name(self) -> str:
        return self._settings.name

    def fetch(self, cursor: Cursor) -> Batch:
        wall = self._clock()
        state = self._resume(cursor, wall)
        now = state.simulated_now(wall)
        target = math.floor(now)
        end = min(target, state.position + self._max_seconds)
        counts: Counter[Observation] = Counter()
        media: Counter[Observation] = Counter()
        new: Counter[Observation] = Counter()
        new_media: Counter[Observation] = Counter()
        for second in range(state.position, end):
            generated, media_results = self._second(state, second)
            counts.update(generated)
            media.update(media_results)
            if self._recorded_until is None or second >= self._recorded_until:
                new.update(generated)
                new_media.update(media_results)
        state.position = max(state.position, end)
        self._write_records(new, new_media, end)
        caught_up = end >= target
        watermark = now if caught_up else float(end)
        return Batch(
            observations={
                CALL_SUMMARY: [obs._replace(n=n) for obs, n in counts.items()],
                MEDIA_SUMMARY: [obs._replace(n=n) for obs, n in media.items()],
            },
            cursor=state.to_cursor(),
            watermark=datetime.fromtimestamp(watermark, UTC),
            caught_up=caught_up,
        )

    def close(self) -> None:
        if self._record is not None:
            self._record.close()
            self._record = None

    # -- internals ---------------------------------------------------------------------------

    def _resume(self, cursor: Cursor, wall: float) -> SimulatorState:
        """The state to continue from: the cursor's (the pipeline's truth) or a fresh start."""
        settings = self._settings
        state = SimulatorState.from_cursor(cursor)  # a damaged cursor raises bad_cursor
        if state is None:
            seed = settings.seed if settings.seed is not None else secrets.randbits(63)
            origin = math.floor(wall)
            return SimulatorState(
                seed=seed,
                origin=origin,
                position=origin,
                anchor_wall=wall,
                anchor_sim=wall,
                time_scale=settings.time_scale,
            )
        if settings.seed is not None and settings.seed != state.seed:
            log.info("simulator %s: seed changed to %d", self.name, settings.seed)
            state.seed = settings.seed
        if state.time_scale != settings.time_scale:
            # Re-anchor so the clock continues from where it was read, at the new speed.
            state.anchor_sim = max(float(state.position), state.simulated_now(wall))
            state.anchor_wall = wall
            state.time_scale = settings.time_scale
        return state

    def _table(self, mix: str, share: float) -> WeightedReasons:
        key = (mix, share)
        table = self._tables.get(key)
        if table is None:
            table = reason_table(mix, share, self._tail)
            self._tables[key] = table
        return table

    def _second(
        self, state: SimulatorState, second: int
    ) -> tuple[Counter[Observation], Counter[Observation]]:
        """Every call end and media result of one simulated second, a pure function of
        (seed, second, settings). `second` is a simulated Unix time, in whole seconds."""
        settings = self._settings
        # Not for security: a reproducible stream per (seed, second) is the point.
        rng = random.Random(f"{state.seed}/{second}")  # noqa: S311
        n = self._per_second_whole + (1 if rng.random() < self._per_second_fraction else 0)
        out: Counter[Observation] = Counter()
        media: Counter[Observation] = Counter()
        if n == 0:
            return out, media
        share = server_error_share(
            settings.scenario,
            second - state.origin,
            spike_start=settings.spike_start,
            spike_duration=settings.spike_duration,
            spike_share=settings.spike_server_error_share,
        )
        profiles = Counter(
            rng.choices(range(len(self._profiles)), cum_weights=self._profile_cum, k=n)
        )
        # Clients come from a stream of their own: the reasons drawn do not depend on them.
        client_rng = random.Random(f"{state.seed}/{second}/clients")  # noqa: S311
        broken = self._bad_release_share(state, second)
        server_calls = 0
        for index in sorted(profiles):
            profile = self._profiles[index]
            if profile.mix == "server":
                server_calls += profiles[index]
            reasons, cum = self._table(profile.mix, share)
            drawn = rng.choices(reasons, cum_weights=cum, k=profiles[index])
            pairs = Counter(zip(drawn, draw_clients(client_rng, profile, len(drawn)), strict=True))
            if broken:
                pairs = break_release(client_rng, pairs, broken)
            for (reason, client), count in pairs.items():
                dims = self._dimensions(index, client)
                obs = Observation(reason.code, reason.subcode, reason.service_category, dims, 1)
                out[obs] += count
        # Drawn after the call ends, so the call ends of a second do not depend on them.
        if server_calls:
            results, cum_weights = MEDIA_TABLE
            drawn_media = rng.choices(
                results, cum_weights=cum_weights, k=server_calls * MEDIA_OPERATIONS_PER_SERVER_CALL
            )
            resources = draw_resources(client_rng, len(drawn_media))
            pairs_media = Counter(zip(drawn_media, resources, strict=True))
            for (result, resource), count in pairs_media.items():
                dims = (*result.dimensions, ("resource", resource_name(resource)))
                media[Observation(result.code, result.subcode, None, dims, 1)] += count
        return out, media

    def _dimensions(self, profile: int, client: Client) -> tuple[tuple[str, str], ...]:
        """The labels of a call end of profile number `profile` from `client`, made once."""
        key = (profile, client)
        dims = self._dims.get(key)
        if dims is None:
            # Sorted by name, as Observation.dimensions requires.
            own = self._profiles[profile].dimensions
            dims = tuple(sorted((*own, *client.dimensions())))
            self._dims[key] = dims
        return dims

    def _bad_release_share(self, state: SimulatorState, second: int) -> float:
        """The bad release's broken share at `second`: 0 outside the bad-release scenario's
        window (spike_start, spike_duration)."""
        settings = self._settings
        if settings.scenario != "bad-release":
            return 0.0
        start = settings.spike_start.total_seconds()
        elapsed = second - state.origin
        if start <= elapsed < start + settings.spike_duration.total_seconds():
            return settings.bad_release_client_error_share
        return 0.0

    def _write_records(
        self, new: Counter[Observation], new_media: Counter[Observation], end: int
    ) -> None:
        """Append `new` call ends and `new_media` media results to record_file. Fails the
        fetch (nothing counted) if it cannot."""
        path = self._settings.record_file
        if path is None:
            return
        if new or new_media:
            lines = bytearray()
            for obs, n in new.items():
                lines += orjson.dumps(_record(obs, n))
                lines += b"\n"
            for obs, n in new_media.items():
                lines += orjson.dumps(_record(obs, n) | {"table": MEDIA_SUMMARY.name})
                lines += b"\n"
            try:
                if self._record is None:
                    self._record = _open_append(path)
                self._record.write(bytes(lines))
                self._record.flush()
            except OSError as error:
                raise SourceError(
                    QueryError.RECORD_FILE, f"cannot append to record_file {path}: {error}"
                ) from None
        if self._recorded_until is None or end > self._recorded_until:
            self._recorded_until = end


def _record(obs: Observation, n: int) -> dict[str, object]:
    return {
        "code": obs.code,
        "subcode": obs.subcode,
        "service_category": obs.service_category,
        "dimensions": dict(obs.dimensions),
        "n": n,
    }


def _open_append(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("ab")
