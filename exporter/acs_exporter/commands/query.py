"""`acs-exporter query --print`: the KQL one poll would run, ready to paste into the portal."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from acs_exporter.commands.common import add_config_file_flag, settings_or_report

if TYPE_CHECKING:
    from acs_exporter.config import Settings
    from acs_exporter.definitions.tables import LabelPlan
    from acs_exporter.sources.base import Cursor
    from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
    from acs_exporter.sources.loganalytics.source import Job


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
    from acs_exporter.pipeline.checkpoint import Checkpoint

    state = Checkpoint(settings.state.path, label_plan(settings)).load()
    return dict(state.cursors)


def render_source(
    source: LogAnalyticsSettings, cursor: Cursor, now: datetime, plan: LabelPlan
) -> list[str]:
    from acs_exporter.sources.base import SourceError
    from acs_exporter.sources.loganalytics.source import plan_jobs

    if cursor is None:
        cursor = steady_state_cursor(source, now)
    try:
        jobs = plan_jobs(source, cursor, now, plan)
    except SourceError as exc:  # a damaged checkpoint entry must not hide the queries
        print(f"acs-exporter: source {source.name!r}: ignoring its cursor: {exc}", file=sys.stderr)
        jobs = plan_jobs(source, steady_state_cursor(source, now), now, plan)
    return [job_block(source, job) for job in jobs]


def steady_state_cursor(source: LogAnalyticsSettings, now: datetime) -> Cursor:
    """The cursor of a source polling steadily: one poll interval ending `safety_lag` ago."""
    from acs_exporter.sources.loganalytics.cursor import dump_cursor
    from acs_exporter.sources.loganalytics.source import targets_for, window_end
    from acs_exporter.sources.loganalytics.timestamps import format_ticks, ticks_from_timedelta

    end = window_end(source, now)
    start = format_ticks(end - ticks_from_timedelta(source.poll_interval))
    targets = targets_for(source)
    return dump_cursor({table: {t.key: start for t in targets} for table in source.tables})


def job_block(source: LogAnalyticsSettings, job: Job) -> str:
    """One query, with a comment saying where it runs."""
    scope = ""
    if job.target.additional_workspaces:
        scope = (
            "\n// The API adds the other workspaces (`workspaces` parameter); in the portal, "
            "select all of them as the scope."
        )
    query = job.table_spec.render(job.window, lookback=source.time_generated_lookback)
    return f"// source {source.name!r}: {job.target.describe()}{scope}\n{query}"
