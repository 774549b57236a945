"""`acs-exporter run`: serve metrics until SIGTERM / SIGINT."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading

from acs_exporter.commands.common import add_config_flags, settings_from_args, settings_or_report


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the exporter (default source: the built-in simulator)",
        description="Poll the configured sources and serve Prometheus metrics. Flags override "
        "the environment (ACS_EXPORTER_<SECTION>__<KEY>), which overrides the config file.",
    )
    add_config_flags(parser)
    parser.set_defaults(func=execute)


def execute(args: argparse.Namespace) -> int:
    from acs_exporter.pipeline.daemon import StopSignal

    # First: a SIGTERM or SIGHUP during start-up (the catalog and the Azure SDK take a while
    # to load) is then a clean stop or a reload, not the default action (death, no log).
    stop_signal = StopSignal()
    stop_signal.install()
    from acs_exporter import secrets
    from acs_exporter.app import StartupError, serve
    from acs_exporter.inputs.redact import scrub_text
    from acs_exporter.logsetup import setup_logging

    settings = settings_or_report(args)
    if settings is None:
        return 2
    secrets.remember(settings)  # before the first line is logged
    setup_logging(settings.log.format, settings.log.level)
    try:
        code = serve(settings, stop_signal, reload_settings=lambda: settings_from_args(args))
    except StartupError as exc:
        print(f"acs-exporter: cannot start: {scrub_text(str(exc))}", file=sys.stderr)
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
