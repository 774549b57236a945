"""Command line: `acs-exporter run | explain | catalog | check-config | query`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acs_exporter import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acs-exporter",
        description="Prometheus exporter for Azure Communication Services call end reasons.",
    )
    parser.add_argument("--version", action="version", version=f"acs-exporter {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    del args
    return 0


if __name__ == "__main__":
    sys.exit(main())
