"""Command line: `acs-exporter run | explain | catalog | check-config | query`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acs_exporter import __version__
from acs_exporter.commands import catalog, check_config, explain, query, run

SUBCOMMANDS = (run, check_config, explain, catalog, query)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acs-exporter",
        description="Prometheus exporter for Azure Communication Services call end reasons.",
    )
    parser.add_argument("--version", action="version", version=f"acs-exporter {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
