"""Resolution: 1,000,000 raw (code, subcode) keys through `aggregate.Resolver`, the daemon's hot
path and its only resolution cache (the catalog keeps none).

The pairs are every documented (code, subcode) of the shipped catalog plus undocumented ones
(code rules, code classes, unknown), repeated to a million, as text the way sources deliver
them. Figures are the median of several runs on a warm cache, as the daemon sees it after the
first poll; the cold figure is the first resolution of a key (one catalog resolution, the
documented row's verdict included).
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
    resolver = Resolver(catalog)

    def work(keys: Sequence[tuple[object, object]], service: str | None) -> Callable[[], None]:
        resolve = resolver.resolve

        def resolve_all() -> None:
            for code, subcode in keys:
                resolve(code, subcode, service, Domain.CALL_END)

        return resolve_all

    strings, ints = work(raw, None), work(pairs, None)
    with_service = work(raw, "UnexpectedClientError")
    for each in (strings, ints, with_service):
        each()  # warm: every distinct key resolved once, as after the daemon's first poll
    target = f"< {TARGET_SECONDS:g} s"
    figures = [
        (f"1M raw string pairs, Resolver.resolve ({distinct} keys)", _median(strings)),
        ("1M int pairs, Resolver.resolve", _median(ints)),
    ]
    rows = [Result("resolve", m, f"{t:.3f} s", target, t < TARGET_SECONDS) for m, t in figures]
    service_time = _median(with_service)
    rows.append(
        Result("resolve", "1M raw pairs with the service's category", f"{service_time:.3f} s")
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
