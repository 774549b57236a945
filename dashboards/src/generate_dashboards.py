"""Generate acs-exporter's Grafana dashboards (dashboards/*.json) with grafana-foundation-sdk.

    python dashboards/src/generate_dashboards.py           # rewrite the committed JSON
    python dashboards/src/generate_dashboards.py --check   # exit 1 when a committed file is stale

Thresholds drawn on panels come from alerts/thresholds.yaml, like the alert rules, so a line on a
dashboard is exactly where its alert fires. docs/dashboards.md describes every row.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from acs_panels import (
    CATEGORIES,
    CATEGORY_COLOURS,
    alert_annotation,
    datasource_variable,
    fixed_colour,
    instant_table_query,
    query,
    query_variable,
    row,
    stat_panel,
    table_panel,
    timeseries_panel,
    with_category_colours,
)
from generators.thresholds import REPO, Thresholds, ThresholdsError, load, seconds

OUTPUT_DIR = REPO / "dashboards"
TAGS = ["acs", "acs-exporter"]
TIMES_X = "suffix:\u00d7"  # the multiplication sign

# Variables of the end-reasons dashboard, as PromQL label matchers.
REC = 'job=~"$job", source=~"$source"'  # recording rules (aggregated per job and source)
RAW = 'job=~"$job", source=~"$source", category=~"$category", code=~"$code"'


def _links() -> list[dashboard_builder.DashboardLink]:
    return [
        dashboard_builder.DashboardLink("ACS dashboards")
        .type(model.DashboardLinkType.DASHBOARDS)
        .tags(["acs-exporter"])
        .as_dropdown(False)
        .include_vars(True)
        .keep_time(True)
        .target_blank(False)
        .icon("external link")
        .tooltip("")
        .url("")
    ]


def _base(uid: str, title: str, description: str) -> dashboard_builder.Dashboard:
    return (
        dashboard_builder.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .links(_links())  # type: ignore[arg-type]
    )


def _share(category: str) -> str:
    """Share of call ends in `category` over all selected sources (0 when there are none)."""
    return (
        f'(sum(source_category:acs_call_ends:rate5m{{{REC}, category="{category}"}}) or vector(0))'
        f"\n/\nsum(source:acs_call_ends:rate5m{{{REC}}})"
    )


def _join_catalog(counts: str) -> str:
    """Label `counts` (by code, subcode, category) with message, advice and doc_url, by the
    documented join (docs/metrics.md): the exporter serves an acs_end_reason_info row for every
    (code, subcode) it counts, so one join on the pair finds them all. topk keeps one row per
    pair when several exporters are scraped; `or` keeps counts an older exporter has no row for.
    """
    info = 'topk by (code, subcode) (1, acs_end_reason_info{domain="call-end"})'
    return (
        f"  {counts}\n  * on (code, subcode) group_left (message, advice, doc_url)\n  {info}"
        f"\nor on (code, subcode)\n  {counts}"
    )


def call_end_reasons(t: Thresholds) -> dashboard_builder.Dashboard:
    budget = round(1 - t.slo.target, 10)  # 0.005, not 0.0050000000000000044
    spike = t.server_error_spike
    board = _base(
        "acs-call-end-reasons",
        "ACS call end reasons",
        "Why Azure Communication Services calls end: call ends per second, the share of each "
        "end-reason category, UnexpectedServerError against its baseline and the SLO, and the "
        "top end reasons with Microsoft's message and our advice.",
    )
    board = (
        board.with_variable(datasource_variable())
        .with_variable(
            query_variable(
                "job",
                "Job",
                "label_values(acs_call_ends_total, job)",
                description="Prometheus job scraping acs-exporter.",
            )
        )
        .with_variable(
            query_variable(
                "source",
                "Source",
                'label_values(acs_call_ends_total{job=~"$job"}, source)',
                description="acs-exporter source (ACS resource); All also matches no label.",
            )
        )
        .with_variable(
            query_variable(
                "category",
                "Category",
                'label_values(acs_call_ends_total{job=~"$job"}, category)',
                description="End-reason category, for the drill-down and the table.",
            )
        )
        .with_variable(
            query_variable(
                "code",
                "Code",
                'label_values(acs_call_ends_total{job=~"$job", category=~"$category"}, code)',
                description="End-reason code (SIP-like), for the drill-down and the table.",
            )
        )
        .annotation(
            alert_annotation(
                "ACS pages",
                'ALERTS{alertname=~"ACS.+", alertstate="firing", severity="critical"}',
                "red",
            )
        )
        .annotation(
            alert_annotation(
                "ACS warnings",
                'ALERTS{alertname=~"ACS.+", alertstate="firing", severity="warning"}',
                "orange",
            )
        )
    )

    # --- Overview ----------------------------------------------------------------------------
    board = board.with_row(
        row("Overview: how many calls end, and how many fail on Microsoft's side?")
    )
    board = board.with_panel(
        stat_panel(
            "Call ends",
            "Participant call ends per second over the last 5 minutes, all categories "
            "(acs_call_ends_total, one per ACSCallSummary row).",
            [query(f"sum(source:acs_call_ends:rate5m{{{REC}}})", "call ends/s")],
            "cps",
            [(None, "text")],
        )
    )
    board = board.with_panel(
        stat_panel(
            "UnexpectedServerError share",
            "Share of call ends in UnexpectedServerError over the last 5 minutes. Orange from "
            f"the SLO's error budget ({budget:.2%}), red from the spike alert's threshold "
            f"({spike.share:.0%}).",
            [query(_share("UnexpectedServerError"), "UnexpectedServerError")],
            "percentunit",
            [(None, "green"), (budget, "orange"), (spike.share, "red")],
            colour_mode=common.BigValueColorMode.BACKGROUND,
        )
    )
    board = board.with_panel(
        stat_panel(
            "Error budget burn rate (1h)",
            "How fast calls use the UnexpectedServerError error budget of the "
            f"{t.slo.target:.1%} SLO over the last hour: 1x spends it exactly over the SLO "
            "period; the fast page needs 14.4x (and 5 minutes agreeing).",
            [
                query(
                    f"max(source:acs_call_ends_unexpected_server_error:ratio_rate1h{{{REC}}})"
                    f" / {budget:.6g}",
                    "burn rate 1h",
                )
            ],
            TIMES_X,
            [(None, "green"), (1, "yellow"), (6, "orange"), (14.4, "red")],
        )
    )
    board = board.with_panel(
        stat_panel(
            "Error budget left (3 days)",
            "Share of the UnexpectedServerError error budget not used over the last 3 days "
            "(the longest window the recording rules keep). Below 0 the SLO is missed.",
            [
                query(
                    f"1 - max(source:acs_call_ends_unexpected_server_error:ratio_rate3d{{{REC}}})"
                    f" / {budget:.6g}",
                    "budget left",
                )
            ],
            "percentunit",
            [(None, "red"), (0, "orange"), (0.25, "green")],
        )
    )
    board = board.with_panel(
        stat_panel(
            "UnexpectedClientError share",
            "Share of call ends in UnexpectedClientError over the last 5 minutes; red from "
            f"the warning's threshold ({t.client_error_high.share:.0%}).",
            [query(_share("UnexpectedClientError"), "UnexpectedClientError")],
            "percentunit",
            [(None, "green"), (t.client_error_high.share, "orange")],
        )
    )
    board = board.with_panel(
        stat_panel(
            "Firing ACS alerts",
            "ACS alerts firing now (ALERTS from this Prometheus); alert annotations mark them "
            "on every time series.",
            [
                query(
                    'count(ALERTS{alertname=~"ACS.+", alertstate="firing"}) or vector(0)',
                    "firing",
                )
            ],
            "none",
            [(None, "green"), (1, "red")],
            colour_mode=common.BigValueColorMode.BACKGROUND,
        )
    )
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
        width=24,
        height=4,
    ).text_mode(common.BigValueTextMode.VALUE_AND_NAME)
    board = board.with_panel(
        with_category_colours(shares).graph_mode(common.BigValueGraphMode.NONE)
    )

    # --- Categories over time -----------------------------------------------------------------
    board = board.with_row(row("Categories: why do calls end, over time?"))
    board = board.with_panel(
        with_category_colours(
            timeseries_panel(
                "Call ends by category",
                "Participant call ends per second by category, stacked (5-minute rate).",
                [
                    query(
                        "sum by (category) (source_category:acs_call_ends:rate5m"
                        f'{{{REC}, category=~"$category"}})',
                        "{{category}}",
                    )
                ],
                "cps",
                stacked=common.StackingMode.NORMAL,
            )
        )
    )
    board = board.with_panel(
        with_category_colours(
            timeseries_panel(
                "Share of each category",
                "Share of call ends per category, stacked to 100% (5-minute rate).",
                [
                    query(
                        "sum by (category) (source_category:acs_call_ends:rate5m"
                        f'{{{REC}, category=~"$category"}})\n'
                        "/ ignoring (category) group_left ()\n"
                        f"sum(source:acs_call_ends:rate5m{{{REC}}})",
                        "{{category}}",
                    )
                ],
                "percentunit",
                stacked=common.StackingMode.NORMAL,
            ).max(1)
        )
    )

    # --- UnexpectedServerError vs baseline and SLO ---------------------------------------------
    board = board.with_row(
        row("UnexpectedServerError: a spike above the baseline? How fast does the budget burn?")
    )
    ratio = "source:acs_call_ends_unexpected_server_error:ratio_rate"
    baseline = f"source:acs_call_ends_unexpected_server_error:ratio_baseline{spike.baseline_window}"
    board = board.with_panel(
        timeseries_panel(
            "UnexpectedServerError share vs baseline and SLO",
            "The share of call ends in UnexpectedServerError over 5 minutes and 1 hour, per "
            f"source, against its baseline (the share over the {spike.baseline_window} that "
            f"ended {spike.baseline_offset} ago; it appears once Prometheus holds that much "
            f"history) and {spike.baseline_factor:g}x that baseline. "
            f"Dashed lines: the SLO's error budget ({budget:.2%}, orange) and the spike alert's "
            f"threshold ({spike.share:.0%}, red). ACSUnexpectedServerErrorSpike fires when the "
            "5m share is above both the red line and the spike line, with enough calls.",
            [
                query(f"{ratio}5m{{{REC}}}", "share 5m {{source}}", "A"),
                query(f"{ratio}1h{{{REC}}}", "share 1h {{source}}", "B"),
                query(f"{baseline}{{{REC}}}", "baseline {{source}}", "C"),
                query(
                    f"{spike.baseline_factor:g} * {baseline}{{{REC}}}",
                    f"spike line ({spike.baseline_factor:g}x baseline) {{{{source}}}}",
                    "D",
                ),
            ],
            "percentunit",
            width=16,
        )
        .thresholds(
            dashboard_builder.ThresholdsConfig()
            .mode(model.ThresholdsMode.ABSOLUTE)
            .steps(
                [
                    model.Threshold(value=None, color="transparent"),
                    model.Threshold(value=budget, color="orange"),
                    model.Threshold(value=spike.share, color="red"),
                ]
            )
        )
        .thresholds_style(
            common_builder.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.DASHED)
        )
        .override_by_regexp("share 5m.*", fixed_colour("red"))
        .override_by_regexp("share 1h.*", fixed_colour("dark-red"))
        .override_by_regexp("baseline.*", fixed_colour("blue"))
        .override_by_regexp("spike line.*", fixed_colour("purple"))
    )
    board = board.with_panel(
        timeseries_panel(
            "Error budget burn rate",
            f"Burn rate of the {t.slo.target:.1%} SLO's error budget over the four long windows "
            "of the multi-window alerts: 14.4x (1h) and 6x (6h) page, 3x (1d) and 1x (3d) "
            "open a ticket, each only while its short window agrees.",
            [
                query(
                    f"max by (source) ({ratio}{w}{{{REC}}}) / {budget:.6g}",
                    f"{w} {{{{source}}}}",
                    r,
                )
                for w, r in (("1h", "A"), ("6h", "B"), ("1d", "C"), ("3d", "D"))
            ],
            TIMES_X,
            width=8,
        )
        .thresholds(
            dashboard_builder.ThresholdsConfig()
            .mode(model.ThresholdsMode.ABSOLUTE)
            .steps(
                [
                    model.Threshold(value=None, color="transparent"),
                    model.Threshold(value=1, color="yellow"),
                    model.Threshold(value=6, color="orange"),
                    model.Threshold(value=14.4, color="red"),
                ]
            )
        )
        .thresholds_style(
            common_builder.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.DASHED)
        )
    )

    # --- Top end reasons -----------------------------------------------------------------------
    board = board.with_row(row("Top end reasons: which codes, what they mean, what to do"))
    counts = f"sum by (code, subcode, category) (increase(acs_call_ends_total{{{RAW}}}[$__range]))"
    top = f"topk(25,\n{_join_catalog(counts)}\n)"
    board = board.with_panel(
        table_panel(
            "Top end reasons",
            "The 25 most frequent end reasons over the dashboard's time range, filtered by the "
            "category and code variables, with Microsoft's message, our advice and a link to "
            "the documentation page, joined from acs_end_reason_info on (code, subcode): the "
            "exporter serves a row for every pair it counts, documented or not (an undocumented "
            "pair's row describes its code and names the explain command).",
            [instant_table_query(top)],
            height=12,
        )
        .with_transformation(
            _columns(
                {
                    "code": "Code",
                    "subcode": "Subcode",
                    "category": "Category",
                    "Value": "Calls",
                    "message": "Message",
                    "advice": "Advice",
                    "doc_url": "Documentation",
                }
            )
        )
        .sort_by([common_builder.TableSortByFieldState().display_name("Calls").desc(True)])
        .override_by_name("Category", _category_cells())
        .override_by_name(
            "Calls",
            [
                model.DynamicConfigValue(id_val="unit", value="short"),
                model.DynamicConfigValue(id_val="decimals", value=0),
            ],
        )
        .override_by_name(
            "Documentation",
            [
                model.DynamicConfigValue(
                    id_val="links",
                    value=[
                        {
                            "title": "Microsoft's page for this code",
                            "url": "${__value.raw}",
                            "targetBlank": True,
                        }
                    ],
                )
            ],
        )
    )

    board = _disagreement_rows(board)
    board = _call_automation_rows(board, t)

    # --- Drill-down ---------------------------------------------------------------------------
    board = board.with_row(row("Drill-down: end reasons of the selected categories and codes"))
    drill = timeseries_panel(
        "Call ends by end reason",
        "Participant call ends per second by code, subcode and category, filtered by the "
        "category and code variables. Each category keeps its colour, in shades.",
        [
            query(
                f"sum by (code, subcode, category) (rate(acs_call_ends_total{{{RAW}}}"
                "[$__rate_interval]))",
                "{{code}}/{{subcode}} {{category}}",
            )
        ],
        "cps",
        width=24,
        height=10,
    )
    for category, colour in CATEGORY_COLOURS.items():
        drill = drill.override_by_regexp(
            f".*\\b{category}\\b.*",
            [
                model.DynamicConfigValue(
                    id_val="color", value={"mode": "shades", "fixedColor": colour}
                )
            ],
        )
    board = board.with_panel(drill)
    return board


DISAGREEMENTS = "acs_call_end_category_disagreements_total"
MEDIA = "acs_call_automation_media_results_total"
MEDIA_SELECTOR = 'job=~"$job", source=~"$source"'


def _disagreement_rows(board: dashboard_builder.Dashboard) -> dashboard_builder.Dashboard:
    """Where the catalog's documented category and the service's ResultCategory differ."""
    selector = 'job=~"$job", source=~"$source"'
    board = board.with_row(
        row("Catalog and service: for which end reasons do the two verdicts disagree?")
    )
    labels = "code, subcode, catalog_category, service_category"
    board = board.with_panel(
        table_panel(
            "Catalog and service disagree",
            "Call ends over the dashboard's time range whose ResultCategory (the service's "
            "verdict) is not the category the catalog documents for the pair "
            f"({DISAGREEMENTS}). metrics.category_source decides which one the category label "
            "carries; ACSEndReasonCategoryDisagreements reports them in volume.",
            [
                instant_table_query(
                    f"sort_desc(sum by ({labels}) (increase({DISAGREEMENTS}{{{selector}}}"
                    "[$__range])))"
                )
            ],
            height=8,
        )
        .with_transformation(
            _columns(
                {
                    "code": "Code",
                    "subcode": "Subcode",
                    "catalog_category": "Catalog says",
                    "service_category": "Service logged",
                    "Value": "Calls",
                }
            )
        )
        .override_by_name("Catalog says", _category_cells())
        .override_by_name("Service logged", _category_cells())
        .override_by_name(
            "Calls",
            [
                model.DynamicConfigValue(id_val="unit", value="short"),
                model.DynamicConfigValue(id_val="decimals", value=0),
            ],
        )
    )
    return board.with_panel(
        with_category_colours(
            timeseries_panel(
                "Disagreements per second",
                "Call ends per second whose service category differs from the documented one, "
                "by pair and the service's verdict.",
                [
                    query(
                        f"sum by (code, subcode, service_category) (rate({DISAGREEMENTS}"
                        f"{{{selector}}}[$__rate_interval]))",
                        "{{code}}/{{subcode}} logged {{service_category}}",
                    )
                ],
                "cps",
                width=24,
            )
        )
    )


def _call_automation_rows(
    board: dashboard_builder.Dashboard, t: Thresholds
) -> dashboard_builder.Dashboard:
    """Call Automation media operations (ACSCallAutomationMediaSummary)."""
    media = t.media_failure_high
    board = board.with_row(row("Call Automation: do media operations (play, recognize) work?"))
    board = board.with_panel(
        with_category_colours(
            timeseries_panel(
                "Media results by operation and category",
                "Call Automation media results per second by operation and category, stacked "
                f"({MEDIA}, one per ACSCallAutomationMediaSummary row).",
                [
                    query(
                        f"sum by (operation, category) (rate({MEDIA}{{{MEDIA_SELECTOR}}}"
                        "[$__rate_interval]))",
                        "{{operation}} {{category}}",
                    )
                ],
                "ops",
                stacked=common.StackingMode.NORMAL,
            )
        )
    )
    board = board.with_panel(
        timeseries_panel(
            "Media failure share by operation",
            "Share of each operation's media results in UnexpectedClientError or "
            "UnexpectedServerError over 5 minutes, per source. Dashed red line: "
            f"ACSCallAutomationMediaFailureHigh's threshold ({media.share:.0%}), which also "
            f"needs {media.min_operations} results in 5 minutes and {media.for_}.",
            [
                query(
                    f"source_operation:acs_call_automation_media_failures:ratio_rate5m{{{REC}}}",
                    "{{operation}} {{source}}",
                )
            ],
            "percentunit",
        )
        .thresholds(
            dashboard_builder.ThresholdsConfig()
            .mode(model.ThresholdsMode.ABSOLUTE)
            .steps(
                [
                    model.Threshold(value=None, color="transparent"),
                    model.Threshold(value=media.share, color="red"),
                ]
            )
        )
        .thresholds_style(
            common_builder.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.DASHED)
        )
    )
    return board.with_panel(
        table_panel(
            "Top media result codes",
            "The 15 most frequent media results over the dashboard's time range by operation, "
            "code, subcode and category; `acs-exporter explain CODE SUBCODE --domain "
            "call-automation` explains a code.",
            [
                instant_table_query(
                    "topk(15, sum by (operation, code, subcode, category) "
                    f"(increase({MEDIA}{{{MEDIA_SELECTOR}}}[$__range])))"
                )
            ],
            height=8,
        )
        .with_transformation(
            _columns(
                {
                    "operation": "Operation",
                    "code": "Code",
                    "subcode": "Subcode",
                    "category": "Category",
                    "Value": "Results",
                }
            )
        )
        .sort_by([common_builder.TableSortByFieldState().display_name("Results").desc(True)])
        .override_by_name("Category", _category_cells())
    )


def _columns(names: dict[str, str]) -> model.DataTransformerConfig:
    """A table's columns: these fields in this order, under these names; the time column hidden."""
    return model.DataTransformerConfig(
        id_val="organize",
        options={
            "excludeByName": {"Time": True},
            "indexByName": {field: i for i, field in enumerate(names)},
            "renameByName": dict(names),
        },
    )


def _category_cells() -> list[model.DynamicConfigValue]:
    """A table column of categories, each in its colour (UnexpectedServerError red)."""
    mapping = model.ValueMap(
        options={
            category: model.ValueMappingResult(color=colour, index=i)
            for i, (category, colour) in enumerate(CATEGORY_COLOURS.items())
        }
    )
    return [
        model.DynamicConfigValue(id_val="mappings", value=[mapping]),
        model.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-text"}),
    ]


def exporter_health(t: Thresholds) -> dashboard_builder.Dashboard:
    e = t.exporter
    sel = 'job=~"$job", instance=~"$instance"'
    sels = f'{sel}, source=~"$source"'
    board = _base(
        "acs-exporter-health",
        "ACS exporter health",
        "Is acs-exporter up, reading ACS logs on time, without query errors, throttling or "
        "rejected records, and within its series limit?",
    )
    board = (
        board.with_variable(datasource_variable())
        .with_variable(query_variable("job", "Job", "label_values(acs_exporter_build_info, job)"))
        .with_variable(
            query_variable(
                "instance",
                "Instance",
                'label_values(acs_exporter_build_info{job=~"$job"}, instance)',
            )
        )
        .with_variable(
            query_variable(
                "source",
                "Source",
                'label_values(acs_exporter_source_up{job=~"$job", instance=~"$instance"}, source)',
            )
        )
        .annotation(
            alert_annotation(
                "Exporter alerts",
                'ALERTS{alertname=~"ACSExporter.+", alertstate="firing"}',
                "red",
            )
        )
    )
    up_mapping = model.ValueMap(
        options={
            "0": model.ValueMappingResult(text="down", color="red", index=0),
            "1": model.ValueMappingResult(text="up", color="green", index=1),
        }
    )

    board = board.with_row(row("Is the exporter up, and reading ACS logs on time?"))
    board = board.with_panel(
        stat_panel(
            "Scrape",
            "Whether Prometheus scrapes the exporter (up). Down for "
            f"{e.down_for} fires ACSExporterDown.",
            [query(f"min(up{{{sel}}})", "up")],
            "none",
            [(None, "red"), (1, "green")],
            colour_mode=common.BigValueColorMode.BACKGROUND,
        ).mappings([up_mapping])
    )
    board = board.with_panel(
        stat_panel(
            "Sources up",
            "Whether the last poll of every selected source succeeded (acs_exporter_source_up).",
            [query(f"min(acs_exporter_source_up{{{sels}}})", "sources up")],
            "none",
            [(None, "red"), (1, "green")],
            colour_mode=common.BigValueColorMode.BACKGROUND,
        ).mappings([up_mapping])
    )
    board = board.with_panel(
        stat_panel(
            "Since last successful poll",
            "Time since the oldest last successful poll of the selected sources; red from "
            f"{e.poll_stale_after} (ACSExporterNoSuccessfulPoll).",
            [
                query(
                    f"max(time() - acs_exporter_last_successful_poll_timestamp_seconds{{{sels}}})",
                    "since last poll",
                )
            ],
            "s",
            [
                (None, "green"),
                (seconds(e.poll_stale_after) / 3, "orange"),
                (seconds(e.poll_stale_after), "red"),
            ],
        )
    )
    board = board.with_panel(
        stat_panel(
            "Cursor lag",
            "How far behind now the exporter has read the logs (ingestion time); red from "
            f"{e.cursor_lag} (ACSExporterCursorLagging). Log Analytics itself ingests with "
            "a delay of a few minutes.",
            [query(f"max(acs_exporter_cursor_lag_seconds{{{sels}}})", "cursor lag")],
            "s",
            [
                (None, "green"),
                (seconds(e.cursor_lag) / 3, "orange"),
                (seconds(e.cursor_lag), "red"),
            ],
        )
    )
    board = board.with_panel(
        stat_panel(
            "Series used",
            "Outcome series exported against metrics.max_series; red from "
            f"{e.series_limit_share:.0%} (ACSExporterSeriesNearLimit). Past the limit new "
            "label values (end codes, call types, operations) are folded into `other`.",
            [
                query(
                    f"max(acs_exporter_series{{{sel}}} / acs_exporter_series_limit{{{sel}}})",
                    "series / limit",
                )
            ],
            "percentunit",
            [(None, "green"), (0.75, "orange"), (e.series_limit_share, "red")],
        )
    )
    board = board.with_panel(
        stat_panel(
            "Version",
            "acs-exporter version and Python version (acs_exporter_build_info).",
            [query(f"acs_exporter_build_info{{{sel}}}", "{{version}} (Python {{python_version}})")],
            "none",
            [(None, "text")],
        ).text_mode(common.BigValueTextMode.NAME)
    )

    board = board.with_row(row("Polls: how often, how long, how many fail?"))
    board = board.with_panel(
        timeseries_panel(
            "Polls by outcome",
            "Polls per second per source and outcome. More than "
            f"{e.poll_failure_share:.0%} failing over 15 minutes fires ACSExporterPollsFailing.",
            [
                query(
                    "sum by (source, outcome) (rate(acs_exporter_polls_total"
                    f"{{{sels}}}[$__rate_interval]))",
                    "{{source}} {{outcome}}",
                )
            ],
            "ops",
        )
        .override_by_regexp(".*error.*", fixed_colour("red"))
        .override_by_regexp(".*success.*", fixed_colour("green"))
    )
    board = board.with_panel(
        timeseries_panel(
            "Poll duration",
            "Time one poll takes (query, enrichment, aggregation): median, 90th and 99th "
            "percentile per source.",
            [
                query(
                    f"histogram_quantile({q}, sum by (source, le) (rate("
                    f"acs_exporter_poll_duration_seconds_bucket{{{sels}}}[$__rate_interval])))",
                    f"p{round(q * 100)} {{{{source}}}}",
                    ref,
                )
                for q, ref in ((0.5, "A"), (0.9, "B"), (0.99, "C"))
            ],
            "s",
        )
    )

    board = board.with_row(row("Freshness: how far behind real time are the counts?"))
    board = board.with_panel(
        timeseries_panel(
            "Cursor lag",
            "Now minus the ingestion time the source has been read up to. The dashed line is "
            f"the ACSExporterCursorLagging threshold ({e.cursor_lag}).",
            [query(f"acs_exporter_cursor_lag_seconds{{{sels}}}", "{{source}}")],
            "s",
        )
        .thresholds(
            dashboard_builder.ThresholdsConfig()
            .mode(model.ThresholdsMode.ABSOLUTE)
            .steps(
                [
                    model.Threshold(value=None, color="transparent"),
                    model.Threshold(value=seconds(e.cursor_lag), color="red"),
                ]
            )
        )
        .thresholds_style(
            common_builder.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.DASHED)
        )
    )
    board = board.with_panel(
        timeseries_panel(
            "Time since last successful poll",
            "Age of each source's last successful poll. The dashed line is the "
            f"ACSExporterNoSuccessfulPoll threshold ({e.poll_stale_after}).",
            [
                query(
                    f"time() - acs_exporter_last_successful_poll_timestamp_seconds{{{sels}}}",
                    "{{source}}",
                )
            ],
            "s",
        )
        .thresholds(
            dashboard_builder.ThresholdsConfig()
            .mode(model.ThresholdsMode.ABSOLUTE)
            .steps(
                [
                    model.Threshold(value=None, color="transparent"),
                    model.Threshold(value=seconds(e.poll_stale_after), color="red"),
                ]
            )
        )
        .thresholds_style(
            common_builder.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.DASHED)
        )
    )

    board = board.with_row(row("Errors: are queries failing or throttled, are records rejected?"))
    board = board.with_panel(
        timeseries_panel(
            "Query errors by reason",
            "Failed queries per second by reason: throttled (Azure Monitor limits), "
            "server_error, timeout, connection, auth, bad_query, partial and truncated "
            "(results incomplete: counts may miss calls), checkpoint_write (the state file "
            "could not be saved) and internal (a bug: report it).",
            [
                query(
                    "sum by (source, reason) (rate(acs_exporter_query_errors_total"
                    f"{{{sels}}}[$__rate_interval]))",
                    "{{source}} {{reason}}",
                )
            ],
            "ops",
        )
        .override_by_regexp(".*throttled.*", fixed_colour("orange"))
        .override_by_regexp(".*(partial|truncated).*", fixed_colour("red"))
    )
    board = board.with_panel(
        timeseries_panel(
            "Records read and rejected",
            "Records read per second (calls, after aggregation in the query) and records "
            "rejected because they could not be read at all, by reason. More than "
            f"{e.rejected_share:.0%} rejected over an hour fires ACSExporterRecordsRejected.",
            [
                query(
                    "sum by (source) (rate(acs_exporter_records_read_total"
                    f"{{{sels}}}[$__rate_interval]))",
                    "read {{source}}",
                    "A",
                ),
                query(
                    "sum by (source, reason) (rate(acs_exporter_records_rejected_total"
                    f"{{{sels}}}[$__rate_interval]))",
                    "rejected {{source}} {{reason}}",
                    "B",
                ),
            ],
            "ops",
        ).override_by_regexp("rejected.*", fixed_colour("red"))
    )

    board = board.with_row(row("Catalog and cardinality: unknown end reasons, series, folding"))
    board = board.with_panel(
        timeseries_panel(
            "Unknown and malformed end reasons",
            "Call ends per second whose end reason the catalog does not know (category "
            "Unknown: time to update the catalog, see ACSUnknownEndReasons) or whose code is "
            "malformed (empty, null, not a number).",
            [
                query(
                    "sum by (source) (rate(acs_exporter_unknown_end_reasons_total"
                    f"{{{sels}}}[$__rate_interval]))",
                    "unknown {{source}}",
                    "A",
                ),
                query(
                    "sum by (source) (rate(acs_exporter_malformed_end_reasons_total"
                    f"{{{sels}}}[$__rate_interval]))",
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
    board = board.with_panel(
        timeseries_panel(
            "Series and limit",
            "Distinct outcome series exported, and the metrics.max_series ceiling.",
            [
                query(f"acs_exporter_series{{{sel}}}", "series {{instance}}", "A"),
                query(f"acs_exporter_series_limit{{{sel}}}", "limit {{instance}}", "B"),
            ],
            "short",
            width=8,
        ).override_by_regexp("limit.*", fixed_colour("red"))
    )
    board = board.with_panel(
        timeseries_panel(
            "Folded call ends",
            "Records per second counted with a label of value `other` because the series "
            "limit was reached, by label (a record folded in two labels shows under both; "
            "categories stay exact). Any folding fires ACSExporterEndReasonsFolded.",
            [
                query(
                    f"sum by (instance, label) (rate(acs_exporter_folded_records_total{{{sel}}}"
                    "[$__rate_interval]))",
                    "folded {{label}} {{instance}}",
                )
            ],
            "cps",
            width=8,
        ).override_by_regexp("folded.*", fixed_colour("orange"))
    )

    board = board.with_row(row("Resources: how much memory and CPU does the exporter use?"))
    board = board.with_panel(
        timeseries_panel(
            "Memory",
            "Resident memory of the exporter process (process_resident_memory_bytes). It grows "
            "with the number of series, not with the number of calls.",
            [query(f"process_resident_memory_bytes{{{sel}}}", "{{instance}}")],
            "bytes",
        )
    )
    board = board.with_panel(
        timeseries_panel(
            "CPU",
            "CPU time the exporter process uses per second (1 = one core).",
            [
                query(
                    f"rate(process_cpu_seconds_total{{{sel}}}[$__rate_interval])",
                    "{{instance}}",
                )
            ],
            "percentunit",
        )
    )
    return board


DASHBOARDS = {
    "acs-call-end-reasons.json": call_end_reasons,
    "acs-exporter-health.json": exporter_health,
}


def _finish(data: dict[str, Any]) -> dict[str, Any]:
    """Settle what the SDK leaves open, so the JSON is stable and complete."""
    for number, panel in enumerate(_all_panels(data), start=1):
        panel["id"] = number
    for annotation in data.get("annotations", {}).get("list", []):
        # Fields of Grafana's Prometheus annotation query the SDK does not model.
        annotation.setdefault("titleFormat", "{{alertname}}")
        annotation.setdefault("textFormat", "{{summary}}")
        annotation.setdefault("tagKeys", "severity,job,source")
        annotation.setdefault("step", "60s")
        annotation.setdefault("useValueForTime", False)
    data.setdefault("schemaVersion", 39)
    data["graphTooltip"] = data.get("graphTooltip", 1)
    return data


def _all_panels(data: dict[str, Any]) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    for panel in data.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def build(thresholds: Thresholds | None = None) -> dict[str, dict[str, Any]]:
    """Every dashboard as Grafana JSON, by file name."""
    t = thresholds or load()
    result = {}
    for name, make in DASHBOARDS.items():
        encoded = json.dumps(make(t).build(), cls=JSONEncoder)
        result[name] = _finish(json.loads(encoded))
    return result


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    try:
        dashboards = build()
    except ThresholdsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stale = []
    for name, data in dashboards.items():
        path = OUTPUT_DIR / name
        text = render(data)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(stale)}: run `make dashboards`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
