"""`acs-exporter run`."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("run", help="(not yet implemented)")
    parser.set_defaults(func=execute)


def execute(args: argparse.Namespace) -> int:
    raise SystemExit("acs-exporter run: not yet implemented")
