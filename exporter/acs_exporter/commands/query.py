"""`acs-exporter query --print`: the KQL one poll would run, ready to paste into the portal."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from acs_exporter.commands.run import add_config_file_flag, settings_or_report

if TYPE_CHECKING:
    from acs_exporter.config import Settings
    from acs_exporter.sources.base import Cursor
    from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
    from acs_exporter.tables import LabelPlan


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "query",
        help="print the KQL the Log Analytics sources run",
        description="Print the KQL one poll of each configured Log Analytics source would run. "
        "With a checkpoint (state.path) the windows continue from the saved cursor; otherwise "
        "they cover the last poll interval. Paste a query into the workspace's Logs blade; "
        "for several workspaces select them all as the scope.",
    )
    parser.add_argument(
        "--print",
        dest="print_queries",
        action="store_true",
        required=True,
        help="print the queries (nothing is sent to Azure)",
    )
    add_config_file_flag(parser)
    parser.set_defaults(func=execute)


def execute(args: argparse.Namespace) -> int:
    from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings

    settings = settings_or_report(args)
    if settings is None:
        return 2
    sources = [s for s in settings.effective_sources() if isinstance(s, LogAnalyticsSettings)]
    if not sources:
        where = args.config_file or "the defaults and environment"
        print(
            f"acs-exporter: no source of type log_analytics in {where}; add one under "
            "`sources:` (see docs/loganalytics.md)",
            file=sys.stderr,
        )
        return 2
    try:
        cursors = saved_cursors(settings)
    except Exception as exc:  # a checkpoint problem must not hide the queries
        print(f"acs-exporter: ignoring the checkpoint: {exc}", file=sys.stderr)
        cursors = {}
    from acs_exporter.app import label_plan

    now = datetime.now(UTC)
    blocks = [
        block
        for source in sources
        for block in render_source(source, cursors.get(source.name), now, label_plan(settings))
    ]
    print("\n\n".join(blocks))
    return 0


def saved_cursors(settings: Settings) -> dict[str, Cursor]:
    if settings.state.path is None or not Path(settings.state.path).exists():
        return {}
    from acs_exporter.app import label_plan
    from acs_exporter.checkpoint import Checkpoint

    state = Checkpoint(settings.state.path, label_plan(settings)).load()
    return dict(state.cursors)


def render_source(
    source: LogAnalyticsSettings, cursor: Cursor, now: datetime, plan: LabelPlan
) -> list[str]:
    from acs_exporter.sources.loganalytics.source import plan_jobs, targets_for, window_end
    from acs_exporter.sources.loganalytics.timestamps import (
        format_ticks,
        parse_ticks,
        ticks_from_timedelta,
    )

    if cursor is None:
        # Steady state: one poll interval ending `safety_lag` ago.
        end = format_ticks(window_end(source, now))
        start = format_ticks(parse_ticks(end) - ticks_from_timedelta(source.poll_interval))
        cursor = {
            "v": 1,
            "tables": {
                table: {target.key: start for target in targets_for(source)}
                for table in source.tables
            },
        }
    blocks = []
    for job in plan_jobs(source, cursor, now, plan):
        where = job.target.describe()
        scope = ""
        if job.target.additional_workspaces:
            scope = (
                "\n// The API adds the other workspaces (`workspaces` parameter); in the portal, "
                "select all of them as the scope."
            )
        query = job.table_spec.render(job.window, lookback=source.time_generated_lookback)
        blocks.append(f"// source {source.name!r}: {where}{scope}\n{query}")
    return blocks
