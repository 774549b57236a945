"""The "ACS exporter health" dashboard: is acs-exporter up, reading ACS logs on time, without
query errors, throttling or rejected records, and within its series limit?

One function per row, one per panel where a panel takes more than a few lines; every metric name
comes from acs_exporter.definitions.metrics. docs/dashboards.md describes the rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from acs_exporter.definitions.metrics import (
    BUILD_INFO,
    CURSOR_LAG,
    FOLDED_RECORDS,
    LAST_SUCCESSFUL_POLL,
    MALFORMED_END_REASONS,
    POLL_DURATION,
    POLLS,
    QUERY_ERRORS,
    RECORDS_READ,
    RECORDS_REJECTED,
    SERIES,
    SERIES_LIMIT,
    SOURCE_UP,
    STATE_COMMITS,
    STATE_LEADER,
    STATE_STORE_UP,
    STATE_WRITE_CONFLICTS,
    UNKNOWN_END_REASONS,
)
from generators.panels import (
    CLUSTER,
    alert_annotation,
    cluster_variable,
    dashboard,
    dashed_lines,
    datasource_variable,
    fixed_colour,
    query,
    query_variable,
    red_after,
    stat_panel,
    sum_rate,
    timeseries_panel,
    with_row,
)
from generators.thresholds import Exporter, SharedState, Thresholds, seconds

# Variables of this dashboard, as PromQL label matchers: per process, and per source.
SEL = f'{CLUSTER}, job=~"$job", instance=~"$instance"'
SELS = f'{SEL}, source=~"$source"'
# A standby of state.backend azure_blob polls nothing (its source is "down", a stepped-down
# leader's last poll and cursor age): the poll panels read the leader, as the alerts do. The
# leader metric exists only with that backend; without it this removes nothing.
# The labels the replicas of one deployment share (the alerts group by them too).
DEPLOYMENT = "cluster, namespace, job"
POLLING = f"unless on (job, instance) {STATE_LEADER.sample}{{{SEL}}} == 0"
SINCE_LAST_POLL = f"time() - {LAST_SUCCESSFUL_POLL.sample}{{{SELS}}} {POLLING}"
CURSOR_LAG_POLLING = f"{CURSOR_LAG.sample}{{{SELS}}} {POLLING}"

Panels = list[cogbuilder.Builder[model.Panel]]

UP_MAPPING = model.ValueMap(
    options={
        "0": model.ValueMappingResult(text="down", color="red", index=0),
        "1": model.ValueMappingResult(text="up", color="green", index=1),
    }
)


def _with_variables(board: dashboard_builder.Dashboard) -> dashboard_builder.Dashboard:
    return (
        board.with_variable(datasource_variable())
        .with_variable(cluster_variable(BUILD_INFO.sample))
        .with_variable(
            query_variable("job", "Job", f"label_values({BUILD_INFO.sample}{{{CLUSTER}}}, job)")
        )
        .with_variable(
            query_variable(
                "instance",
                "Instance",
                f'label_values({BUILD_INFO.sample}{{{CLUSTER}, job=~"$job"}}, instance)',
            )
        )
        .with_variable(
            query_variable("source", "Source", f"label_values({SOURCE_UP.sample}{{{SEL}}}, source)")
        )
        .annotation(
            alert_annotation(
                "Exporter alerts",
                f'ALERTS{{{CLUSTER}, alertname=~"ACSExporter.+", alertstate="firing", '
                'severity!="info"}',
                "red",
            )
        )
    )


# --- Is the exporter up? --------------------------------------------------------------------


def _up_stats(e: Exporter) -> Panels:
    up_colours: list[tuple[float | None, str]] = [(None, "red"), (1, "green")]
    background = common.BigValueColorMode.BACKGROUND
    return [
        stat_panel(
            "Scrape",
            f"Whether Prometheus scrapes the exporter (up). Down for {e.down_for} fires "
            "ACSExporterDown.",
            [query(f"min(up{{{SEL}}})", "up")],
            "none",
            up_colours,
            colour_mode=background,
        ).mappings([UP_MAPPING]),
        stat_panel(
            "Sources up",
            f"Whether the last poll of every selected source succeeded ({SOURCE_UP.sample}); "
            "with state.backend azure_blob, on the leader (a standby polls nothing).",
            [query(f"min({SOURCE_UP.sample}{{{SELS}}} {POLLING})", "sources up")],
            "none",
            up_colours,
            colour_mode=background,
        ).mappings([UP_MAPPING]),
    ]


def _timeliness_stats(e: Exporter) -> Panels:
    return [
        stat_panel(
            "Since last successful poll",
            "Time since the oldest last successful poll of the selected sources; red from "
            f"{e.poll_stale_after} (ACSExporterNoSuccessfulPoll).",
            [query(f"max({SINCE_LAST_POLL})", "since last poll")],
            "s",
            red_after(seconds(e.poll_stale_after)),
        ),
        stat_panel(
            "Cursor lag",
            "How far behind now the exporter has read the logs (ingestion time); red from "
            f"{e.cursor_lag} (ACSExporterCursorLagging). Log Analytics itself ingests with "
            "a delay of a few minutes.",
            [query(f"max({CURSOR_LAG_POLLING})", "cursor lag")],
            "s",
            red_after(seconds(e.cursor_lag)),
        ),
    ]


def _process_stats(e: Exporter) -> Panels:
    used = f"{SERIES.sample}{{{SEL}}} / {SERIES_LIMIT.sample}{{{SEL}}}"
    version = "{{version}} (Python {{python_version}})"
    return [
        stat_panel(
            "Series used",
            "Outcome series exported against metrics.max_series; red from "
            f"{e.series_limit_share:.0%} (ACSExporterSeriesNearLimit). Past the limit new "
            "label values (end codes, call types, operations) are folded into `other`.",
            [query(f"max({used})", "series / limit")],
            "percentunit",
            [(None, "green"), (0.75, "orange"), (e.series_limit_share, "red")],
        ),
        stat_panel(
            "Version",
            f"acs-exporter version and Python version ({BUILD_INFO.sample}).",
            [query(f"{BUILD_INFO.sample}{{{SEL}}}", version)],
            "none",
            [(None, "text")],
        ).text_mode(common.BigValueTextMode.NAME),
    ]


# --- Polls ----------------------------------------------------------------------------------


def _polls_by_outcome(e: Exporter) -> timeseries.Panel:
    return (
        timeseries_panel(
            "Polls by outcome",
            "Polls per second per source and outcome. More than "
            f"{e.poll_failure_share:.0%} failing over 15 minutes fires ACSExporterPollsFailing.",
            [query(sum_rate("source, outcome", POLLS.sample, SELS), "{{source}} {{outcome}}")],
            "ops",
        )
        .override_by_regexp(".*error.*", fixed_colour("red"))
        .override_by_regexp(".*success.*", fixed_colour("green"))
    )


def _poll_duration() -> timeseries.Panel:
    per_bucket = sum_rate("source, le", POLL_DURATION.bucket, SELS)
    return timeseries_panel(
        "Poll duration",
        "Time one poll takes (query, enrichment, aggregation): median, 90th and 99th "
        "percentile per source.",
        [
            query(
                f"histogram_quantile({q}, {per_bucket})", f"p{round(q * 100)} {{{{source}}}}", ref
            )
            for q, ref in ((0.5, "A"), (0.9, "B"), (0.99, "C"))
        ],
        "s",
    )


# --- Freshness ------------------------------------------------------------------------------


def _freshness(e: Exporter) -> Panels:
    lag = timeseries_panel(
        "Cursor lag",
        "Now minus the ingestion time the source has been read up to. The dashed line is "
        f"the ACSExporterCursorLagging threshold ({e.cursor_lag}).",
        [query(CURSOR_LAG_POLLING, "{{source}}")],
        "s",
    )
    since = timeseries_panel(
        "Time since last successful poll",
        "Age of each source's last successful poll. The dashed line is the "
        f"ACSExporterNoSuccessfulPoll threshold ({e.poll_stale_after}).",
        [query(SINCE_LAST_POLL, "{{source}}")],
        "s",
    )
    return [
        dashed_lines(lag, (seconds(e.cursor_lag), "red")),
        dashed_lines(since, (seconds(e.poll_stale_after), "red")),
    ]


# --- Errors ---------------------------------------------------------------------------------


def _query_errors() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Query errors by reason",
            "Failed queries per second by reason: throttled (Azure Monitor limits), "
            "server_error, timeout, connection, auth, bad_query, partial and truncated "
            "(results incomplete: counts may miss calls), checkpoint_write (the state file "
            "could not be saved) and internal (a bug: report it).",
            [query(sum_rate("source, reason", QUERY_ERRORS.sample, SELS), "{{source}} {{reason}}")],
            "ops",
        )
        .override_by_regexp(".*throttled.*", fixed_colour("orange"))
        .override_by_regexp(".*(partial|truncated).*", fixed_colour("red"))
    )


def _records(e: Exporter) -> timeseries.Panel:
    rejected = sum_rate("source, reason", RECORDS_REJECTED.sample, SELS)
    return timeseries_panel(
        "Records read and rejected",
        "Records read per second (calls, after aggregation in the query) and records "
        "rejected because they could not be read at all, by reason. More than "
        f"{e.rejected_share:.0%} rejected over an hour fires ACSExporterRecordsRejected.",
        [
            query(sum_rate("source", RECORDS_READ.sample, SELS), "read {{source}}", "A"),
            query(rejected, "rejected {{source}} {{reason}}", "B"),
        ],
        "ops",
    ).override_by_regexp("rejected.*", fixed_colour("red"))


# --- Catalog and cardinality ----------------------------------------------------------------


def _unknown_end_reasons() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Unknown and malformed end reasons",
            "Call ends per second whose end reason the catalog does not know (category "
            "Unknown: time to update the catalog, see ACSUnknownEndReasons) or whose code is "
            "malformed (empty, null, not a number).",
            [
                query(
                    sum_rate("source", UNKNOWN_END_REASONS.sample, SELS), "unknown {{source}}", "A"
                ),
                query(
                    sum_rate("source", MALFORMED_END_REASONS.sample, SELS),
                    "malformed {{source}}",
                    "B",
                ),
            ],
            "cps",
            width=8,
        )
        .override_by_regexp("unknown.*", fixed_colour("purple"))
        .override_by_regexp("malformed.*", fixed_colour("yellow"))
    )


def _cardinality() -> Panels:
    series = timeseries_panel(
        "Series and limit",
        "Distinct outcome series exported, and the metrics.max_series ceiling.",
        [
            query(f"{SERIES.sample}{{{SEL}}}", "series {{instance}}", "A"),
            query(f"{SERIES_LIMIT.sample}{{{SEL}}}", "limit {{instance}}", "B"),
        ],
        "short",
        width=8,
    ).override_by_regexp("limit.*", fixed_colour("red"))
    folded = timeseries_panel(
        "Folded call ends",
        "Records per second counted with a label of value `other` because the series "
        "limit was reached, by label (a record folded in two labels shows under both; "
        "categories stay exact). Any folding fires ACSExporterEndReasonsFolded.",
        [
            query(
                sum_rate("instance, label", FOLDED_RECORDS.sample, SEL),
                "folded {{label}} {{instance}}",
            )
        ],
        "cps",
        width=8,
    ).override_by_regexp("folded.*", fixed_colour("orange"))
    return [_unknown_end_reasons(), series, folded]


# --- Shared state ---------------------------------------------------------------------------


def _leadership(s: SharedState) -> Panels:
    """state.backend azure_blob only: these families do not exist with the file backend."""
    leaders = stat_panel(
        "Leaders",
        "Replicas holding the checkpoint blob's lease (state.backend azure_blob; no data with "
        f"the file backend). One is healthy: none for {s.no_leader_for} fires "
        f"ACSExporterNoLeader (nothing polls), more than one for {s.many_leaders_for} "
        "ACSExporterManyLeaders.",
        # per deployment: two healthy ones under Job "All" are not two leaders of one
        [query(f"sum by ({DEPLOYMENT}) ({STATE_LEADER.sample}{{{SEL}}})", "{{job}}")],
        "none",
        [(None, "red"), (1, "green"), (2, "red")],
    )
    reachable = stat_panel(
        "Checkpoint blob reachable",
        "Whether every selected replica's last read, write or lease renewal of the checkpoint "
        f"blob succeeded ({STATE_STORE_UP.sample}); down for {s.store_down_for} fires "
        "ACSExporterStateStoreDown.",
        [query(f"min({STATE_STORE_UP.sample}{{{SEL}}})", "blob reachable")],
        "none",
        [(None, "red"), (1, "green")],
    ).mappings([UP_MAPPING])
    return [leaders, reachable, _roles(), _commits()]


def _roles() -> timeseries.Panel:
    return timeseries_panel(
        "Leader and blob reachable, by replica",
        "1 while the replica leads (holds the lease and polls), 0 while it is a standby; and "
        "whether it reaches the checkpoint blob. A handover shows as one line falling and "
        "another rising within the lease period.",
        [
            query(f"{STATE_LEADER.sample}{{{SEL}}}", "leader {{instance}}", "A"),
            query(f"{STATE_STORE_UP.sample}{{{SEL}}}", "blob reachable {{instance}}", "B"),
        ],
        "none",
        width=8,
    )


def _commits() -> timeseries.Panel:
    return timeseries_panel(
        "Checkpoint commits and refused writes",
        "Checkpoints written to the blob per second, by replica (the leader's), and writes "
        "the storage refused (a replica writing without the lease: any fires "
        "ACSExporterStateWriteConflicts).",
        [
            query(sum_rate("instance", STATE_COMMITS.sample, SEL), "commits {{instance}}", "A"),
            query(
                sum_rate("instance", STATE_WRITE_CONFLICTS.sample, SEL),
                "refused {{instance}}",
                "B",
            ),
        ],
        "ops",
        width=8,
    ).override_by_regexp("refused.*", fixed_colour("red"))


# --- Resources ------------------------------------------------------------------------------


def _resources() -> Panels:
    """The process_* series the Prometheus client library exports for every process."""
    return [
        timeseries_panel(
            "Memory",
            "Resident memory of the exporter process (process_resident_memory_bytes). It grows "
            "with the number of series, not with the number of calls.",
            [query(f"process_resident_memory_bytes{{{SEL}}}", "{{instance}}")],
            "bytes",
        ),
        timeseries_panel(
            "CPU",
            "CPU time the exporter process uses per second (1 = one core).",
            [query(f"rate(process_cpu_seconds_total{{{SEL}}}[$__rate_interval])", "{{instance}}")],
            "percentunit",
        ),
    ]


# Rows in the order they appear: the question each answers, and its panels.
def _rows(t: Thresholds) -> Sequence[tuple[str, Panels]]:
    e = t.exporter
    return (
        (
            "Is the exporter up, and reading ACS logs on time?",
            [*_up_stats(e), *_timeliness_stats(e), *_process_stats(e)],
        ),
        ("Polls: how often, how long, how many fail?", [_polls_by_outcome(e), _poll_duration()]),
        ("Freshness: how far behind real time are the counts?", _freshness(e)),
        (
            "Errors: are queries failing or throttled, are records rejected?",
            [_query_errors(), _records(e)],
        ),
        ("Catalog and cardinality: unknown end reasons, series, folding", _cardinality()),
        (
            "Shared state (state.backend azure_blob): who leads, is the checkpoint blob reachable?",
            _leadership(t.shared_state),
        ),
        ("Resources: how much memory and CPU does the exporter use?", _resources()),
    )


def exporter_health(t: Thresholds) -> dashboard_builder.Dashboard:
    board = dashboard(
        "acs-exporter-health",
        "ACS exporter health",
        "Is acs-exporter up, reading ACS logs on time, without query errors, throttling or "
        "rejected records, and within its series limit?",
    )
    board = _with_variables(board)
    for title, panels in _rows(t):
        board = with_row(board, title, panels)
    return board
