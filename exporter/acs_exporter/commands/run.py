"""`acs-exporter run`: serve metrics until SIGTERM / SIGINT."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path

from acs_exporter.config import ConfigError, Settings, load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the exporter (default source: the built-in simulator)",
        description="Poll the configured sources and serve Prometheus metrics. Flags override "
        "the environment (ACS_EXPORTER_<SECTION>__<KEY>), which overrides the config file.",
    )
    add_config_flags(parser)
    parser.set_defaults(func=execute)


def add_config_file_flag(parser: argparse.ArgumentParser) -> None:
    """`--config.file`, for every command that reads the configuration."""
    parser.add_argument(
        "--config.file", dest="config_file", type=Path, metavar="FILE", help="YAML config file"
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
        type=Path,
        metavar="FILE",
        help="exporter-toolkit web config (TLS, basic auth)",
    )
    parser.add_argument(
        "--log.format", dest="log_format", metavar="json|text", help="log format (default json)"
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


def execute(args: argparse.Namespace) -> int:
    from acs_exporter.daemon import StopSignal

    # First: a SIGTERM or SIGHUP during start-up (the catalog and the Azure SDK take a while
    # to load) is then a clean stop or a reload, not the default action (death, no log).
    stop_signal = StopSignal()
    stop_signal.install()
    from acs_exporter.app import StartupError, serve
    from acs_exporter.logsetup import setup_logging

    settings = settings_or_report(args)
    if settings is None:
        return 2
    setup_logging(settings.log.format, settings.log.level)
    try:
        code = serve(settings, stop_signal, reload_settings=lambda: settings_from_args(args))
    except StartupError as exc:
        print(f"acs-exporter: cannot start: {exc}", file=sys.stderr)
        return 1
    exit_past_lingering_threads(code)
    return code


def exit_past_lingering_threads(code: int) -> None:
    """End the process now if threads are still running after a clean shutdown.

    A poll abandoned at the end of the grace period may still be waiting on the network, and
    the interpreter joins the worker threads of its HTTP client at exit, which would hold the
    process past the grace period (until the query returns). Everything worth keeping is saved
    by now, so the logs are flushed and the process exits with `code` at once."""
    main = threading.main_thread()
    if any(t.is_alive() and t is not main for t in threading.enumerate()):
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
