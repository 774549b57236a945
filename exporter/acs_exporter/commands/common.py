"""What several commands share: the configuration flags and loading, the catalog flags, JSON
output. Commands import these from here, never from one another, so a command can change (or
go) without breaking another.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from acs_exporter.catalog import Catalog, load_catalog
from acs_exporter.config import ConfigError, Settings, load_settings
from acs_exporter.inputs.types import check_path_text


def path_argument(text: str) -> Path:
    """A path flag's value. "" (`--web.config.file "$WEB_CONFIG"` with the variable unset) is
    an error naming the flag, as the same "" in the file or the environment is, rather than the
    current directory pathlib would read it as."""
    try:
        check_path_text(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text)


def add_config_file_flag(parser: argparse.ArgumentParser) -> None:
    """`--config.file`, for every command that reads the configuration."""
    parser.add_argument(
        "--config.file",
        dest="config_file",
        type=path_argument,
        metavar="FILE",
        help="YAML config file",
    )


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """`--config.file` and the flags that override configuration keys (run, check-config)."""
    add_config_file_flag(parser)
    parser.add_argument(
        "--web.listen-address",
        dest="listen_address",
        metavar="HOST:PORT",
        help="address to serve /metrics on (default 0.0.0.0:10142)",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        type=path_argument,
        metavar="FILE",
        help="exporter-toolkit web config (TLS, basic auth)",
    )
    parser.add_argument(
        "--web.telemetry-path",
        dest="telemetry_path",
        metavar="PATH",
        help="path under which to expose the metrics (default /metrics)",
    )
    parser.add_argument(
        "--log.format",
        dest="log_format",
        metavar="json|logfmt|text",
        help="log format (default json)",
    )
    parser.add_argument(
        "--log.level",
        dest="log_level",
        metavar="debug|info|warn|error",
        help="least severe level logged (default info)",
    )


# Flag destination -> the configuration key it overrides.
_FLAG_KEYS = {
    "listen_address": ("web", "listen_address"),
    "web_config_file": ("web", "config_file"),
    "telemetry_path": ("web", "telemetry_path"),
    "log_format": ("log", "format"),
    "log_level": ("log", "level"),
}


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The configuration: --config.file, the environment, then whichever of the overriding
    flags the command has (add_config_flags) and were given. Raises ConfigError."""
    overrides: dict[str, dict[str, object]] = {"web": {}, "log": {}}
    for dest, (section, key) in _FLAG_KEYS.items():
        value = getattr(args, dest, None)
        if value is not None:
            overrides[section][key] = value
    return load_settings(args.config_file, overrides)


def settings_or_report(args: argparse.Namespace) -> Settings | None:
    """settings_from_args, or None after printing the configuration error (exit status 2)."""
    try:
        return settings_from_args(args)
    except ConfigError as exc:
        print(f"acs-exporter: {exc.render()}", file=sys.stderr)
        return None


def add_catalog_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of the commands that read the catalog (`catalog`, `explain`)."""
    add_config_file_flag(parser)
    parser.add_argument(
        "--override",
        action="append",
        type=path_argument,
        default=[],
        metavar="FILE",
        help="catalog override YAML file, after those of the configuration's "
        "catalog.overrides (repeatable; later files win)",
    )
    parser.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour categories (default: only on a terminal)",
    )


def catalog_from_args(args: argparse.Namespace) -> Catalog:
    """The catalog with the configuration's `catalog.overrides` (--config.file, environment),
    then the --override files. Raises ConfigError or CatalogError."""
    settings = settings_from_args(args)
    return load_catalog([*settings.catalog.overrides, *args.override])


def write_json(data: object) -> None:
    """`data` as indented JSON on stdout."""
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()
