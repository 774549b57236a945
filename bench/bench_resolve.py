"""Resolution: 1,000,000 raw (code, subcode) keys through `aggregate.Resolver`, the daemon's hot
path and its only resolution cache (the catalog keeps none).

The pairs are every documented (code, subcode) of the shipped catalog plus undocumented ones
(code rules, code classes, unknown), repeated to a million, as text the way sources deliver
them. Figures are the median of several runs on a warm cache, as the daemon sees it after the
first poll; the cold figure is the first resolution of a key (one catalog resolution, the
documented row's verdict included).

The verdict is a ratio: the first round promised "a dictionary access, not a scan", so each
warm figure is compared with the floor, a bare loop doing one dictionary access per pair on the
same keys, timed interleaved with it in the same run. Absolute times on these shared 2-core
machines move by 2x within minutes (the floor itself measured 0.20 and 0.25 s minutes apart),
so the seconds are printed but judged only against the first round's "well under a second".
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

from acs_exporter.catalog import Catalog, Domain, load_catalog
from acs_exporter.pipeline.aggregate import Resolver
from bench.result import Result

N = 1_000_000
RUNS = 5
TARGET_SECONDS = 1.0  # the first round's "well under a second" for a million pairs
TARGET_RATIO = 3.0  # a cached resolution: a method call, type checks and one dictionary access


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


def _timed(work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _against_floor(work: Callable[[], None], floor: Callable[[], None]) -> tuple[float, float]:
    """Medians of `work` and `floor`, timed alternately (a load change hits both alike)."""
    ours, floors = [], []
    for _ in range(RUNS):
        ours.append(_timed(work))
        floors.append(_timed(floor))
    return statistics.median(ours), statistics.median(floors)


def _floor(keys: Sequence[tuple[object, object]], service: str | None) -> Callable[[], None]:
    """One dictionary access per pair, with the resolver's key: what no cache can beat."""
    cache = {(code, subcode, service, Domain.CALL_END): None for code, subcode in keys}

    def access_all() -> None:
        domain = Domain.CALL_END
        for code, subcode in keys:
            cache[(code, subcode, service, domain)]

    return access_all


def run() -> list[Result]:
    catalog = load_catalog()
    pairs = _pairs(catalog)
    # As a source delivers them: text, and no subcode as None.
    raw = [(str(code), None if sub is None else str(sub)) for code, sub in pairs]
    distinct = len(set(pairs))
    resolver = Resolver(catalog)

    def work(keys: Sequence[tuple[object, object]], service: str | None) -> Callable[[], None]:
        resolve = resolver.resolve

        def resolve_all() -> None:
            # A local, as in the daemon's loop: `Domain.CALL_END` is an enum class attribute,
            # ~0.1 µs a lookup on Python 3.11, which would be timed as the resolver's.
            domain = Domain.CALL_END
            for code, subcode in keys:
                resolve(code, subcode, service, domain)

        return resolve_all

    strings, ints = work(raw, None), work(pairs, None)
    with_service = work(raw, "UnexpectedClientError")
    for each in (strings, ints, with_service):
        each()  # warm: every distinct key resolved once, as after the daemon's first poll
    target = f"<= {TARGET_RATIO:g}x the floor, < {TARGET_SECONDS:g} s"
    figures = [
        (
            f"1M raw string pairs, Resolver.resolve ({distinct} keys)",
            _against_floor(strings, _floor(raw, None)),
        ),
        ("1M int pairs, Resolver.resolve", _against_floor(ints, _floor(pairs, None))),
    ]
    rows = [
        Result(
            "resolve",
            measure,
            f"{ours:.3f} s = {ours / floor:.2f}x the floor ({floor:.3f} s)",
            target,
            ours / floor <= TARGET_RATIO and ours < TARGET_SECONDS,
        )
        for measure, (ours, floor) in figures
    ]
    service_time, service_floor = _against_floor(with_service, _floor(raw, "UnexpectedClientError"))
    rows.append(
        Result(
            "resolve",
            "1M raw pairs with the service's category",
            f"{service_time:.3f} s = {service_time / service_floor:.2f}x the floor",
        )
    )
    for service in (None, "UnexpectedClientError"):
        rows.append(
            Result(
                "resolve", f"first resolution of a key (cold), {service}", _cold(catalog, service)
            )
        )
    return rows


def _cold(catalog: Catalog, service: str | None) -> str:
    """10,000 distinct keys, documented and not, on a fresh resolver and catalog."""
    keys = [(str(code), str(sub)) for code in range(0, 700, 7) for sub in range(100)]
    cold = Resolver(Catalog(catalog.entries, rules=catalog.rules))
    cold.resolve("0", "0", service, Domain.CALL_END)
    start = time.perf_counter()
    for code, subcode in keys:
        cold.resolve(code, subcode, service, Domain.CALL_END)
    return f"{(time.perf_counter() - start) / len(keys) * 1e6:.1f} µs"
