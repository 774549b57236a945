"""Run every bench/bench_*.py module's `run()` and print one table.

Each module returns rows of `Result`. Timings come from repeated runs (median), so the figures
are repeatable on an idle machine; targets are checked here, never in unit tests.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from bench.result import Result


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="only these modules (e.g. bench_resolve)")
    args = parser.parse_args()
    package = importlib.import_module("bench")
    modules = sorted(
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if info.name.startswith("bench_") and (not args.names or info.name in args.names)
    )
    rows: list[Result] = []
    for name in modules:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(importlib.import_module(f"bench.{name}").run())
    table = [Result.header(), *rows]
    widths = [max(len(r.cells()[i]) for r in table) for i in range(5)]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row.cells(), widths, strict=True)))
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
