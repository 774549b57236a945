"""The "ACS call end reasons" dashboard: why calls end, UnexpectedServerError against its
baseline and the SLO, the top end reasons explained, Call Automation media results, drill-down.

One function per row, one per panel where a panel takes more than a few lines; every metric name
comes from acs_exporter.definitions.metrics or generators.recorded. docs/dashboards.md describes
the rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from acs_exporter.definitions.metrics import (
    CALL_ENDS,
    CATEGORY_DISAGREEMENTS,
    CURSOR_LAG,
    END_REASON_INFO,
    MEDIA_RESULTS,
)
from generators import recorded
from generators.breakdown_panels import MATCHERS, what_changed, with_breakdown_variables
from generators.call_automation_events_panels import call_automation_events
from generators.panels import (
    CATEGORIES,
    CATEGORY_COLOURS,
    CLUSTER,
    LEADER,
    TIMES_X,
    alert_annotation,
    category_cells,
    cluster_variable,
    columns,
    count_cells,
    dashboard,
    dashed_lines,
    datasource_variable,
    fixed_colour,
    instant_table_query,
    query,
    query_variable,
    red_after,
    sorted_descending,
    stat_panel,
    sum_increase_once,
    sum_rate_once,
    table_panel,
    timeseries_panel,
    with_category_colours,
    with_row,
)
from generators.thresholds import Thresholds, seconds

# Variables of this dashboard, as PromQL label matchers.
REC = f'{CLUSTER}, job=~"$job", source=~"$source"'  # recording rules (per cluster, job, source)
RAW = f'{REC}, category=~"$category", code=~"$code", {MATCHERS}'
CALLS = CALL_ENDS.sample
DISAGREEMENTS = CATEGORY_DISAGREEMENTS.sample
MEDIA = MEDIA_RESULTS.sample
# Firing ACS alerts, as Prometheus' ALERTS series selects them.
ACS_ALERTS = f'ALERTS{{{CLUSTER}, alertname=~"ACS.+", alertstate="firing"'
# The error budget's longest window (the recording rules keep up to 3 days), and how much of it
# Prometheus must hold before "budget left" means anything: an hour short of full.
BUDGET_WINDOW_HOURS = 72
NOT_ENOUGH_HISTORY = "not enough history"

Panels = list[cogbuilder.Builder[model.Panel]]


def _budget(t: Thresholds) -> float:
    """The SLO's error budget: 0.005, not 0.0050000000000000044."""
    return round(1 - t.slo.target, 10)


def _share(category: str) -> str:
    """Share of call ends in `category` over all selected sources (0 when there are none)."""
    return (
        f'(sum({recorded.CATEGORY_RATE_5M}{{{REC}, category="{category}"}}) or vector(0))'
        f"\n/\nsum({recorded.CALL_RATE_5M}{{{REC}}})"
    )


def _join_catalog(counts: str) -> str:
    """Label `counts` (by code, subcode, category) with message, advice and doc_url, by the
    documented join (docs/metrics.md): the exporter serves an info row for every
    (code, subcode) it counts, so one join on the pair finds them all. topk keeps one row per
    pair when several exporters are scraped; `or` keeps counts an older exporter has no row for.
    """
    info = f'topk by (code, subcode) (1, {END_REASON_INFO.sample}{{{CLUSTER}, domain="call-end"}})'
    return (
        f"  {counts}\n  * on (code, subcode) group_left (message, advice, doc_url)\n  {info}"
        f"\nor on (code, subcode)\n  {counts}"
    )


# --- variables and annotations --------------------------------------------------------------


def _with_variables(board: dashboard_builder.Dashboard) -> dashboard_builder.Dashboard:
    board = (
        board.with_variable(datasource_variable())
        .with_variable(cluster_variable(CALLS))
        .with_variable(
            query_variable(
                "job",
                "Job",
                f"label_values({CALLS}{{{CLUSTER}}}, job)",
                description="Prometheus job scraping acs-exporter.",
            )
        )
        .with_variable(
            query_variable(
                "source",
                "Source",
                f'label_values({CALLS}{{{CLUSTER}, job=~"$job"}}, source)',
                description="acs-exporter source (ACS resource); All also matches no label.",
            )
        )
        .with_variable(
            query_variable(
                "category",
                "Category",
                f'label_values({CALLS}{{{CLUSTER}, job=~"$job"}}, category)',
                description="End-reason category, for the drill-down and the table.",
            )
        )
        .with_variable(
            query_variable(
                "code",
                "Code",
                f'label_values({CALLS}{{{CLUSTER}, job=~"$job", category=~"$category"}}, code)',
                description="End-reason code (SIP-like), for the drill-down and the table.",
            )
        )
    )
    return with_breakdown_variables(board, f'{CLUSTER}, job=~"$job", source=~"$source"')


def _with_alert_annotations(board: dashboard_builder.Dashboard) -> dashboard_builder.Dashboard:
    return board.annotation(
        alert_annotation("ACS pages", f'{ACS_ALERTS}, severity="critical"}}', "red")
    ).annotation(alert_annotation("ACS warnings", f'{ACS_ALERTS}, severity="warning"}}', "orange"))


# --- Overview -------------------------------------------------------------------------------


def _call_ends_stat() -> stat.Panel:
    return stat_panel(
        "Call ends",
        "Participant call ends per second over the last 5 minutes, all categories "
        f"({CALLS}, one per ACSCallSummary row).",
        [query(f"sum({recorded.CALL_RATE_5M}{{{REC}}})", "call ends/s")],
        "cps",
        [(None, "text")],
    )


def _server_error_share_stat(t: Thresholds) -> stat.Panel:
    budget, spike = _budget(t), t.server_error_spike
    return stat_panel(
        "UnexpectedServerError share",
        "Share of call ends in UnexpectedServerError over the last 5 minutes. Orange from "
        f"the SLO's error budget ({budget:.2%}), red from the spike alert's threshold "
        f"({spike.share:.0%}).",
        [query(_share("UnexpectedServerError"), "UnexpectedServerError")],
        "percentunit",
        [(None, "green"), (budget, "orange"), (spike.share, "red")],
        colour_mode=common.BigValueColorMode.BACKGROUND,
    )


def _burn_rate_stat(t: Thresholds) -> stat.Panel:
    ratio = recorded.server_error_ratio("1h")
    return stat_panel(
        "Error budget burn rate (1h)",
        "How fast calls use the UnexpectedServerError error budget of the "
        f"{t.slo.target:.1%} SLO over the last hour: 1x spends it exactly over the SLO "
        "period; the fast page needs 14.4x (and 5 minutes agreeing).",
        [query(f"max({ratio}{{{REC}}}) / {_budget(t):.6g}", "burn rate 1h")],
        TIMES_X,
        [(None, "green"), (1, "yellow"), (6, "orange"), (14.4, "red")],
    )


def _once_history_covers(hours: int) -> str:
    """A condition (for `and on ()`) that holds once the selected sources have data from at
    least `hours` hours ago, i.e. from the hour that ended that long ago."""
    return f"count(present_over_time({recorded.CALL_RATE_5M}{{{REC}}}[1h] offset {hours - 1}h))"


def _budget_left_stat(t: Thresholds) -> stat.Panel:
    ratio = recorded.server_error_ratio("3d")
    left = f"1 - max({ratio}{{{REC}}}) / {_budget(t):.6g}"
    return stat_panel(
        "Error budget left (3 days)",
        "Share of the UnexpectedServerError error budget not used over the last 3 days "
        "(the longest window the recording rules keep). Below 0 the SLO is missed. Until "
        f"Prometheus holds {BUDGET_WINDOW_HOURS - 1} hours of data it reads "
        f'"{NOT_ENOUGH_HISTORY}": a 3-day budget computed from minutes of data means nothing.',
        [
            query(
                f"(\n  {left}\n)\nand on ()\n{_once_history_covers(BUDGET_WINDOW_HOURS)}",
                "budget left",
            )
        ],
        "percentunit",
        [(None, "red"), (0, "orange"), (0.25, "green")],
    ).no_value(NOT_ENOUGH_HISTORY)


def _client_error_share_stat(t: Thresholds) -> stat.Panel:
    return stat_panel(
        "UnexpectedClientError share",
        "Share of call ends in UnexpectedClientError over the last 5 minutes; red from "
        f"the warning's threshold ({t.client_error_high.share:.0%}).",
        [query(_share("UnexpectedClientError"), "UnexpectedClientError")],
        "percentunit",
        [(None, "green"), (t.client_error_high.share, "orange")],
    )


def _firing_alerts_stat() -> stat.Panel:
    return stat_panel(
        "Firing ACS alerts",
        "ACS alerts firing now (ALERTS from this Prometheus), warnings and pages; info "
        "alerts (no action needed) are left out. Alert annotations mark them on every time "
        "series.",
        [query(f'count({ACS_ALERTS}, severity!="info"}}) or vector(0)', "firing")],
        "none",
        [(None, "green"), (1, "red")],
        colour_mode=common.BigValueColorMode.BACKGROUND,
    )


def _category_shares_stat() -> stat.Panel:
    shares = stat_panel(
        "Share of each category",
        "Share of call ends per end-reason category over the last 5 minutes. Categories come "
        "from the catalog (Microsoft's documented code/subcode), or from the service's "
        "ResultCategory (for documented pairs too with metrics.category_source: service; "
        "where the two disagree, see the Catalog and service row); Unknown means the catalog "
        "does not know the end reason.",
        [
            query(_share(category), category, ref_id=chr(ord("A") + i))
            for i, category in enumerate(CATEGORIES)
        ],
        "percentunit",
        [(None, "text")],
        width=20,
        height=4,
    ).text_mode(common.BigValueTextMode.VALUE_AND_NAME)
    return with_category_colours(shares).graph_mode(common.BigValueGraphMode.NONE)


def _freshness_stat(t: Thresholds) -> stat.Panel:
    lag = t.exporter.cursor_lag
    return stat_panel(
        "Data freshness",
        "How late is what this dashboard shows? The cursor lag of the most behind selected "
        f"source ({CURSOR_LAG.sample}): now minus the ingestion time its logs are read up to. "
        "Log Analytics itself ingests with a delay of a few minutes; red from "
        f"{lag} (ACSExporterCursorLagging). The health dashboard shows it per source.",
        [query(f"max({CURSOR_LAG.sample}{{{REC}}})", "cursor lag")],
        "s",
        red_after(seconds(lag)),
    )


def _overview(t: Thresholds) -> Panels:
    return [
        _call_ends_stat(),
        _server_error_share_stat(t),
        _burn_rate_stat(t),
        _budget_left_stat(t),
        _client_error_share_stat(t),
        _firing_alerts_stat(),
        _freshness_stat(t),
        _category_shares_stat(),
    ]


# --- Categories over time -------------------------------------------------------------------


def _categories() -> Panels:
    by_category = f'sum by (category) ({recorded.CATEGORY_RATE_5M}{{{REC}, category=~"$category"}})'
    return [
        with_category_colours(
            timeseries_panel(
                "Call ends by category",
                "Participant call ends per second by category, stacked (5-minute rate).",
                [query(by_category, "{{category}}")],
                "cps",
                stacked=common.StackingMode.NORMAL,
            )
        ),
        with_category_colours(
            timeseries_panel(
                "Share of each category",
                "Share of call ends per category, stacked to 100% (5-minute rate).",
                [
                    query(
                        f"{by_category}\n/ ignoring (category) group_left ()\n"
                        f"sum({recorded.CALL_RATE_5M}{{{REC}}})",
                        "{{category}}",
                    )
                ],
                "percentunit",
                stacked=common.StackingMode.NORMAL,
            ).max(1)
        ),
    ]


# --- UnexpectedServerError vs baseline and SLO ----------------------------------------------


def _server_error_vs_baseline(t: Thresholds) -> timeseries.Panel:
    budget, spike = _budget(t), t.server_error_spike
    baseline = recorded.server_error_baseline(spike.baseline_window)
    factor = f"{spike.baseline_factor:g}"
    panel = timeseries_panel(
        "UnexpectedServerError share vs baseline and SLO",
        "The share of call ends in UnexpectedServerError over 5 minutes and 1 hour, per "
        f"source, against its baseline (the share over the {spike.baseline_window} that "
        f"ended {spike.baseline_offset} ago; it appears once Prometheus holds that much "
        f"history) and {factor}x that baseline. "
        f"Dashed lines: the SLO's error budget ({budget:.2%}, orange) and the spike alert's "
        f"threshold ({spike.share:.0%}, red). ACSUnexpectedServerErrorSpike fires when the "
        "5m share is above both the red line and the spike line, with enough calls.",
        [
            query(f"{recorded.server_error_ratio('5m')}{{{REC}}}", "share 5m {{source}}", "A"),
            query(f"{recorded.server_error_ratio('1h')}{{{REC}}}", "share 1h {{source}}", "B"),
            query(f"{baseline}{{{REC}}}", "baseline {{source}}", "C"),
            query(
                f"{factor} * {baseline}{{{REC}}}",
                f"spike line ({factor}x baseline) {{{{source}}}}",
                "D",
            ),
        ],
        "percentunit",
        width=16,
    )
    return (
        dashed_lines(panel, (budget, "orange"), (spike.share, "red"))
        .override_by_regexp("share 5m.*", fixed_colour("red"))
        .override_by_regexp("share 1h.*", fixed_colour("dark-red"))
        .override_by_regexp("baseline.*", fixed_colour("blue"))
        .override_by_regexp("spike line.*", fixed_colour("purple"))
    )


def _burn_rates(t: Thresholds) -> timeseries.Panel:
    panel = timeseries_panel(
        "Error budget burn rate",
        f"Burn rate of the {t.slo.target:.1%} SLO's error budget over the four long windows "
        "of the multi-window alerts: 14.4x (1h) and 6x (6h) page, 3x (1d) and 1x (3d) "
        "open a ticket, each only while its short window agrees.",
        [
            query(
                f"max by (source) ({recorded.server_error_ratio(w)}{{{REC}}}) / {_budget(t):.6g}",
                f"{w} {{{{source}}}}",
                r,
            )
            for w, r in (("1h", "A"), ("6h", "B"), ("1d", "C"), ("3d", "D"))
        ],
        TIMES_X,
        width=8,
    )
    return dashed_lines(panel, (1, "yellow"), (6, "orange"), (14.4, "red"))


# --- Top end reasons ------------------------------------------------------------------------


def _documentation_links() -> list[model.DynamicConfigValue]:
    link = {"title": "Microsoft's page for this code", "url": "${__value.raw}", "targetBlank": True}
    return [model.DynamicConfigValue(id_val="links", value=[link])]


def _top_end_reasons() -> table.Panel:
    counts = sum_increase_once("code, subcode, category, resource", CALLS, RAW, LEADER)
    top = f"topk(25,\n{_join_catalog(counts)}\n)"
    names = {
        "resource": "Resource",
        "code": "Code",
        "subcode": "Subcode",
        "category": "Category",
        "Value": "Calls",
        "message": "Message",
        "advice": "Advice",
        "doc_url": "Documentation",
    }
    return (
        table_panel(
            "Top end reasons",
            "The 25 most frequent end reasons over the dashboard's time range, filtered by the "
            "category and code variables, with Microsoft's message, our advice and a link to "
            f"the documentation page, joined from {END_REASON_INFO.sample} on (code, subcode): "
            "the exporter serves a row for every pair it counts, documented or not (an "
            "undocumented pair's row describes its code and names the explain command).",
            [instant_table_query(top)],
            height=12,
        )
        .with_transformation(columns(names))
        .sort_by(sorted_descending("Calls"))
        .override_by_name("Category", category_cells())
        .override_by_name("Calls", count_cells())
        .override_by_name("Documentation", _documentation_links())
    )


# --- Catalog and service disagreements ------------------------------------------------------


def _disagreements_table() -> table.Panel:
    labels = "code, subcode, catalog_category, service_category"
    names = {
        "code": "Code",
        "subcode": "Subcode",
        "catalog_category": "Catalog says",
        "service_category": "Service logged",
        "Value": "Calls",
    }
    return (
        table_panel(
            "Catalog and service disagree",
            "Call ends over the dashboard's time range whose ResultCategory (the service's "
            "verdict) is not the category the catalog documents for the pair "
            f"({DISAGREEMENTS}). metrics.category_source decides which one the category label "
            "carries; ACSEndReasonCategoryDisagreements reports them in volume.",
            [
                instant_table_query(
                    f"sort_desc({sum_increase_once(labels, DISAGREEMENTS, REC, LEADER)})"
                )
            ],
            height=8,
        )
        .with_transformation(columns(names))
        .override_by_name("Catalog says", category_cells())
        .override_by_name("Service logged", category_cells())
        .override_by_name("Calls", count_cells())
    )


def _disagreements() -> Panels:
    """Where the catalog's documented category and the service's ResultCategory differ."""
    per_second = timeseries_panel(
        "Disagreements per second",
        "Call ends per second whose service category differs from the documented one, "
        "by pair and the service's verdict.",
        [
            query(
                sum_rate_once("code, subcode, service_category", DISAGREEMENTS, REC, LEADER),
                "{{code}}/{{subcode}} logged {{service_category}}",
            )
        ],
        "cps",
        width=24,
    )
    return [_disagreements_table(), with_category_colours(per_second)]


# --- Call Automation ------------------------------------------------------------------------


def _media_results() -> timeseries.Panel:
    return with_category_colours(
        timeseries_panel(
            "Media results by operation and category",
            "Call Automation media results per second by operation and category, stacked "
            f"({MEDIA}, one per ACSCallAutomationMediaSummary row).",
            [
                query(
                    sum_rate_once("operation, category", MEDIA, REC, LEADER),
                    "{{operation}} {{category}}",
                )
            ],
            "ops",
            stacked=common.StackingMode.NORMAL,
        )
    )


def _media_failure_share(t: Thresholds) -> timeseries.Panel:
    media = t.media_failure_high
    panel = timeseries_panel(
        "Media failure share by operation",
        "Share of each operation's media results in UnexpectedClientError or "
        "UnexpectedServerError over 5 minutes, per source. Dashed red line: "
        f"ACSCallAutomationMediaFailureHigh's threshold ({media.share:.0%}), which also "
        f"needs {media.min_operations} results in 5 minutes and {media.for_}.",
        [query(f"{recorded.MEDIA_FAILURE_RATIO_5M}{{{REC}}}", "{{operation}} {{source}}")],
        "percentunit",
    )
    return dashed_lines(panel, (media.share, "red"))


def _top_media_results() -> table.Panel:
    names = {
        "operation": "Operation",
        "code": "Code",
        "subcode": "Subcode",
        "category": "Category",
        "Value": "Results",
    }
    counts = sum_increase_once("operation, code, subcode, category", MEDIA, REC, LEADER)
    return (
        table_panel(
            "Top media result codes",
            "The 15 most frequent media results over the dashboard's time range by operation, "
            "code, subcode and category; `acs-exporter explain CODE SUBCODE --domain "
            "call-automation` explains a code.",
            [instant_table_query(f"topk(15, {counts})")],
            height=8,
        )
        .with_transformation(columns(names))
        .sort_by(sorted_descending("Results"))
        .override_by_name("Category", category_cells())
    )


def _call_automation(t: Thresholds) -> Panels:
    """Call Automation media operations (ACSCallAutomationMediaSummary)."""
    return [_media_results(), _media_failure_share(t), _top_media_results()]


# --- Drill-down -----------------------------------------------------------------------------


def _drill_down() -> timeseries.Panel:
    panel = timeseries_panel(
        "Call ends by end reason",
        "Participant call ends per second by code, subcode and category, filtered by the "
        "category and code variables. Each category keeps its colour, in shades.",
        [
            query(
                sum_rate_once("code, subcode, category", CALLS, RAW, LEADER),
                "{{code}}/{{subcode}} {{category}}",
            )
        ],
        "cps",
        width=24,
        height=10,
    )
    for category, colour in CATEGORY_COLOURS.items():
        shades = {"mode": "shades", "fixedColor": colour}
        panel = panel.override_by_regexp(
            f".*\\b{category}\\b.*", [model.DynamicConfigValue(id_val="color", value=shades)]
        )
    return panel


# Rows in the order they appear: the question each answers, and its panels.
def _rows(t: Thresholds) -> Sequence[tuple[str, Panels]]:
    return (
        ("Overview: how many calls end, and how many fail on Microsoft's side?", _overview(t)),
        ("Categories: why do calls end, over time?", _categories()),
        (
            "What changed: which SDK release, platform or resource fails more than usual?",
            [what_changed(f'{CLUSTER}, job=~"$job", source=~"$source"', t)],
        ),
        (
            "UnexpectedServerError: a spike above the baseline? How fast does the budget burn?",
            [_server_error_vs_baseline(t), _burn_rates(t)],
        ),
        ("Top end reasons: which codes, what they mean, what to do", [_top_end_reasons()]),
        (
            "Catalog and service: for which end reasons do the two verdicts disagree?",
            _disagreements(),
        ),
        ("Call Automation: do media operations (play, recognize) work?", _call_automation(t)),
        (
            "Call Automation events (platform metrics): is the bot failing right now?",
            call_automation_events(t),
        ),
        ("Drill-down: end reasons of the selected categories and codes", [_drill_down()]),
    )


def call_end_reasons(t: Thresholds) -> dashboard_builder.Dashboard:
    board = dashboard(
        "acs-call-end-reasons",
        "ACS call end reasons",
        "Why Azure Communication Services calls end: call ends per second, the share of each "
        "end-reason category, UnexpectedServerError against its baseline and the SLO, and the "
        "top end reasons with Microsoft's message and our advice.",
    )
    board = _with_alert_annotations(_with_variables(board))
    for title, panels in _rows(t):
        board = with_row(board, title, panels)
    return board
