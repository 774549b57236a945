"""Catalog lookups: 1,000,000 (code, subcode) resolutions, the daemon's hot path.

The pairs are every documented (code, subcode) of the shipped catalog plus undocumented ones
(code rules, code classes, unknown), repeated to a million. Figures are the median of several
runs on a warm catalog, as the daemon sees it after the first poll.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from acs_exporter.catalog import Catalog, load_catalog
from bench.result import Result

N = 1_000_000
RUNS = 5
TARGET_SECONDS = 0.5  # "well under a second" for a million pairs


def _pairs(catalog: Catalog) -> list[tuple[int, int | None]]:
    documented = [
        (e.code, e.subcode) for e in catalog.entries if e.code is not None and e.subcode is not None
    ]
    undocumented: list[tuple[int, int | None]] = [
        (503, 77),
        (500, 1),
        (502, 0),
        (204, 0),
        (486, 1),
        (0, 99),
        (487, None),
        (410, 3199),
    ]
    distinct = documented + undocumented
    return (distinct * (N // len(distinct) + 1))[:N]


def _median(work: Callable[[], None]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run() -> list[Result]:
    catalog = load_catalog()
    pairs = _pairs(catalog)
    # As a source delivers them: text, and no subcode as None.
    raw = [(str(code), None if sub is None else str(sub)) for code, sub in pairs]
    distinct = len(set(pairs))

    lookup = catalog.lookup
    resolve = catalog.resolve

    def ints_fast_path() -> None:
        for code, subcode in pairs:
            lookup(code, subcode)

    def ints_resolve() -> None:
        for code, subcode in pairs:
            resolve(code, subcode)

    def strings_resolve() -> None:
        for code, subcode in raw:
            resolve(code, subcode)

    for work in (ints_fast_path, ints_resolve, strings_resolve):
        work()  # warm: every distinct key resolved once, as after the daemon's first poll

    # First resolution of a key (the slow path, taken once per distinct raw key): 10,000
    # distinct keys on a fresh catalog, documented and not.
    cold_keys = [(code, sub) for code in range(0, 700, 7) for sub in range(100)]
    cold = Catalog(catalog.entries, rules=catalog.rules)
    cold.resolve(0, 0)
    start = time.perf_counter()
    for code, subcode in cold_keys:
        cold.resolve(code, subcode)
    cold_each = (time.perf_counter() - start) / len(cold_keys)

    fast = _median(ints_fast_path)
    public = _median(ints_resolve)
    strings = _median(strings_resolve)
    target = f"< {TARGET_SECONDS:g} s"
    return [
        Result(
            "resolve",
            f"1M int pairs, Catalog.lookup ({distinct} keys)",
            f"{fast:.3f} s",
            target,
            fast < TARGET_SECONDS,
        ),
        Result(
            "resolve",
            "1M int pairs, Catalog.resolve",
            f"{public:.3f} s",
            target,
            public < TARGET_SECONDS,
        ),
        Result("resolve", "1M raw string pairs, Catalog.resolve", f"{strings:.3f} s"),
        Result("resolve", "first resolution of a key (cold)", f"{cold_each * 1e6:.1f} µs"),
    ]
