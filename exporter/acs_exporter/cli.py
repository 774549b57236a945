"""Command line: `acs-exporter run | explain | catalog | check-config | query`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from acs_exporter import build_info
from acs_exporter.commands import catalog, check_config, explain, query, run

SUBCOMMANDS = (run, check_config, explain, catalog, query)


class VersionAction(argparse.Action):
    """`--version`, read only when asked (a checkout asks git for its commit)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: object, **__: object) -> None:
        try:
            line = build_info.current().version_line()
        except build_info.BuildInfoError as exc:
            parser.exit(1, f"acs-exporter: {exc}\n")
        print(line)
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acs-exporter",
        description="Prometheus exporter for Azure Communication Services call end reasons.",
    )
    parser.add_argument(
        "--version", action=VersionAction, help="show version, commit and build date, and exit"
    )
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
