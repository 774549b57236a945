"""Command line: `acs-exporter run | explain | catalog | check-config | query`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from acs_exporter import build_info

# Subcommand -> its module under acs_exporter.commands. Only the chosen one is imported (the
# others' modules load the catalog renderer, the /metrics parser...: ~65 ms of CPU at every
# start of `run`); without a subcommand (`--help`, a typo) all are, to list them.
SUBCOMMANDS = {
    "run": "run",
    "check-config": "check_config",
    "explain": "explain",
    "catalog": "catalog",
    "query": "query",
}


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


def _chosen(argv: Sequence[str] | None) -> str | None:
    """The subcommand `argv` names (the first argument not an option), if it is one."""
    args = sys.argv[1:] if argv is None else argv
    first = next((arg for arg in args if not arg.startswith("-")), None)
    return first if first in SUBCOMMANDS else None


def build_parser(argv: Sequence[str] | None = ()) -> argparse.ArgumentParser:
    """The parser for `argv` (`()`: every subcommand; None: sys.argv's)."""
    chosen = _chosen(argv)
    parser = argparse.ArgumentParser(
        prog="acs-exporter",
        description="Prometheus exporter for Azure Communication Services call end reasons.",
    )
    parser.add_argument(
        "--version", action=VersionAction, help="show version, commit and build date, and exit"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in SUBCOMMANDS.items():
        if chosen is None or name == chosen:
            importlib.import_module(f"acs_exporter.commands.{module}").register(subparsers)
        else:
            subparsers.add_parser(name)  # a name only: never what this command line runs
    return parser


# pydantic looks for its plugins when it builds its first model: the entry points of every
# installed distribution, ~30 ms of each start on the build machine. The exporter uses pydantic
# only to validate its own inputs and ships no pydantic plugin; whoever wants one loaded sets the
# variable themselves (an empty value enables them all).
PLUGINS_VARIABLE = "PYDANTIC_DISABLE_PLUGINS"


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault(PLUGINS_VARIABLE, "__all__")
    args = build_parser(argv).parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
