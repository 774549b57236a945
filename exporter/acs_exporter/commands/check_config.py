"""`acs-exporter check-config [FILE]`: validate everything `run` would, without running."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

import yaml

from acs_exporter.commands.common import add_config_flags, path_argument, settings_or_report
from acs_exporter.config import masked_dump

if TYPE_CHECKING:
    from acs_exporter.config import Settings
    from acs_exporter.pipeline.state import State


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check-config",
        help="validate a configuration without running",
        description="Validate the config file, environment overrides, flags, web config file, "
        "catalog overrides, sources and checkpoint (readable, savable, its directory writable, "
        "each source's saved cursor one its type reads), "
        "then print the effective configuration with "
        "secrets masked. Exit status 0 when valid, 2 when the configuration is invalid, 1 "
        "when a referenced file (web config, catalog override, checkpoint) is.",
    )
    parser.add_argument("file", nargs="?", type=path_argument, help="YAML config file")
    add_config_flags(parser)
    parser.add_argument(
        "--quiet", action="store_true", help="print nothing when the configuration is valid"
    )
    parser.set_defaults(func=execute)


def execute(args: argparse.Namespace) -> int:
    from acs_exporter.app import (
        StartupError,
        build_source,
        label_plan,
        load_catalog_or_fail,
        load_web_config_or_fail,
    )
    from acs_exporter.pipeline.checkpoint import Checkpoint, CheckpointError
    from acs_exporter.sources.base import SourceError

    if args.file is not None:
        if args.config_file is not None and args.config_file != args.file:
            print(
                "acs-exporter: give the config file once (FILE or --config.file)", file=sys.stderr
            )
            return 2
        args.config_file = args.file
    settings = settings_or_report(args)
    if settings is None:
        return 2
    from acs_exporter import secrets
    from acs_exporter.inputs.redact import scrub_text

    secrets.remember(settings)
    try:
        catalog = load_catalog_or_fail(settings)
        web_config = load_web_config_or_fail(settings)
        if settings.state.path is not None:
            checkpoint = Checkpoint(settings.state.path, label_plan(settings))
            checkpoint.check_writable()  # run locks (writes) there first, then loads
            check_saved_cursors(settings, checkpoint.load())
        for item in settings.effective_sources():
            # Built as run builds them (nothing is read or opened until a poll), then closed.
            build_source(item, catalog, label_plan(settings)).close()
    except (StartupError, CheckpointError, SourceError) as exc:
        print(f"acs-exporter: {scrub_text(str(exc))}", file=sys.stderr)
        return 1
    if not args.quiet:
        where = args.config_file or "defaults and environment"
        print(f"# configuration OK ({where}); effective values, secrets masked:")
        print(f"# catalog: {len(catalog.entries)} entries")
        if web_config is not None:
            tls = "on" if web_config.tls_server_config else "off"
            users = len(web_config.basic_auth_users)
            print(f"# web config {settings.web.config_file}: TLS {tls}, basic auth users: {users}")
        print(yaml.safe_dump(masked_dump(settings), sort_keys=False), end="")
    return 0


def check_saved_cursors(settings: Settings, state: State) -> None:
    """Each source's saved cursor is one its type's cursor format reads (the envelope: its
    kind and version; the position itself is checked by the source's first poll). Raises
    SourceError `bad_cursor`, prefixed with the source's name."""
    from acs_exporter.sources.base import SourceError
    from acs_exporter.sources.registry import source_type

    for item in settings.effective_sources():
        cursor_format = source_type(item.type).cursor
        if cursor_format is None or item.name not in state.cursors:
            continue
        try:
            cursor_format.unwrap(state.cursors[item.name])
        except SourceError as exc:
            raise SourceError(exc.reason, f"source {item.name!r}: {exc}") from None
