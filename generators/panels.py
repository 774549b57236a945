"""Building blocks shared by acs-exporter's dashboards: data source, queries, colours, panels,
table columns and the dashboard frame (links, tags, time), so each dashboard module only says
which panels it shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from acs_exporter.definitions.metrics import STATE_LEADER
from generators.count_once import one_copy

TAGS = ["acs", "acs-exporter"]
TIMES_X = "suffix:\u00d7"  # a unit: the multiplication sign (burn rates: 14.4x)

# Every query filters on the `cluster` variable: the label a multi-cluster Prometheus (Thanos,
# Mimir, federation) adds, which the recording rules keep. All is `.*`, which also matches
# series without the label, so a single-cluster setup loses nothing.
CLUSTER = 'cluster=~"$cluster"'
# The leader metric of the dashboards' deployments (no `source` label), for counting once what
# every replica of a state.backend azure_blob deployment serves (sum_rate_once, ...).
LEADER = f'{STATE_LEADER.sample}{{{CLUSTER}, job=~"$job"}}'

# Every panel and query reads the data source chosen in the `datasource` variable.
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")

# One colour per end-reason category, the same on every panel: UnexpectedServerError is red.
CATEGORY_COLOURS = {
    "Success": "green",
    "ExpectedError": "blue",
    "UnexpectedClientError": "orange",
    "UnexpectedServerError": "red",
    "Unknown": "purple",
}
CATEGORIES = tuple(CATEGORY_COLOURS)


def query(expr: str, legend: str = "__auto", ref_id: str = "A") -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref_id)
        .range()
        .datasource(DATASOURCE)
    )


def instant_table_query(expr: str, ref_id: str = "A") -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(expr)
        .ref_id(ref_id)
        .instant()
        .format(PromQueryFormat.TABLE)
        .datasource(DATASOURCE)
    )


def sum_rate(by: str, sample: str, selector: str) -> str:
    """Per-second rate of a counter over Grafana's rate interval, summed by `by`."""
    return f"sum by ({by}) (rate({sample}{{{selector}}}[$__rate_interval]))"


def sum_increase(by: str, sample: str, selector: str) -> str:
    """Increase of a counter over the dashboard's time range, summed by `by` (for tables)."""
    return f"sum by ({by}) (increase({sample}{{{selector}}}[$__range]))"


def sum_rate_once(by: str, sample: str, selector: str, leader: str) -> str:
    """`sum_rate` of a counter every replica serves (call outcomes), counted once."""
    vector = f"rate({sample}{{{selector}}}[$__rate_interval])"
    return f"sum by ({by}) ({one_copy(vector, leader, one_line=True)})"


def sum_increase_once(by: str, sample: str, selector: str, leader: str) -> str:
    """`sum_increase` of a counter every replica serves (call outcomes), counted once."""
    vector = f"increase({sample}{{{selector}}}[$__range])"
    return f"sum by ({by}) ({one_copy(vector, leader, one_line=True)})"


def thresholds(*steps: tuple[float | None, str]) -> dashboard_builder.ThresholdsConfig:
    return (
        dashboard_builder.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=colour) for value, colour in steps])
    )


def fixed_colour(colour: str) -> list[model.DynamicConfigValue]:
    return [model.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": colour})]


Colourable = TypeVar("Colourable", timeseries.Panel, stat.Panel)


def dashed_lines(panel: timeseries.Panel, *steps: tuple[float, str]) -> timeseries.Panel:
    """Draw each (value, colour) as a dashed horizontal line: where an alert fires."""
    return panel.thresholds(thresholds((None, "transparent"), *steps)).thresholds_style(
        common_builder.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
    )


def with_category_colours(panel: Colourable) -> Colourable:
    """Colour series by category, whether the series is named after it or merely contains it."""
    for category, colour in CATEGORY_COLOURS.items():
        panel = panel.override_by_regexp(f".*\\b{category}\\b.*", fixed_colour(colour))
    return panel


Framed = TypeVar("Framed", timeseries.Panel, stat.Panel, table.Panel)


def _framed(
    panel: Framed,
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    width: int,
    height: int,
) -> Framed:
    """What every panel has: a title, a description, this data source, queries, a size."""
    return (
        panel.title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(list(targets))
        .span(width)
        .height(height)
    )


def timeseries_panel(
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    unit: str,
    *,
    stacked: common.StackingMode | None = None,
    width: int = 12,
    height: int = 8,
) -> timeseries.Panel:
    panel = (
        _framed(timeseries.Panel(), title, description, targets, width=width, height=height)
        .unit(unit)
        .min(0)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max", "lastNotNull"])
        )
        .tooltip(
            common_builder.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    if stacked is not None:
        panel = panel.stacking(common_builder.StackingConfig().mode(stacked)).fill_opacity(60)
    return panel


def red_after(seconds: float) -> list[tuple[float | None, str]]:
    """Stat colours: green, orange from a third of `seconds`, red from `seconds` (where the
    alert fires)."""
    return [(None, "green"), (seconds / 3, "orange"), (seconds, "red")]


def stat_panel(
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    unit: str,
    steps: Sequence[tuple[float | None, str]],
    *,
    width: int = 4,
    height: int = 4,
    colour_mode: common.BigValueColorMode = common.BigValueColorMode.VALUE,
) -> stat.Panel:
    return (
        _framed(stat.Panel(), title, description, targets, width=width, height=height)
        .unit(unit)
        .thresholds(thresholds(*steps))
        .color_scheme(dashboard_builder.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .color_mode(colour_mode)
        .graph_mode(common.BigValueGraphMode.AREA)
        .text_mode(common.BigValueTextMode.AUTO)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def table_panel(
    title: str, description: str, targets: Sequence[prometheus.Dataquery], *, height: int = 10
) -> table.Panel:
    # Grafana 12 requires these table settings (its schema has no default for them).
    return (
        _framed(table.Panel(), title, description, targets, width=24, height=height)
        .frame_index(0)
        .show_header(True)
        .align(common.FieldTextAlignment.AUTO)
        .cell_options(common.TableAutoCellOptions())
        .inspect(False)
    )


def columns(names: dict[str, str]) -> model.DataTransformerConfig:
    """A table's columns: these fields in this order, under these names; the time column hidden."""
    return model.DataTransformerConfig(
        id_val="organize",
        options={
            "excludeByName": {"Time": True},
            "indexByName": {field: i for i, field in enumerate(names)},
            "renameByName": dict(names),
        },
    )


def category_cells() -> list[model.DynamicConfigValue]:
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


def count_cells() -> list[model.DynamicConfigValue]:
    """A table column of counts: whole numbers, no unit scaling surprises."""
    return [
        model.DynamicConfigValue(id_val="unit", value="short"),
        model.DynamicConfigValue(id_val="decimals", value=0),
    ]


def sorted_descending(column: str) -> list[cogbuilder.Builder[common.TableSortByFieldState]]:
    return [common_builder.TableSortByFieldState().display_name(column).desc(True)]


def row(title: str) -> dashboard_builder.Row:
    return dashboard_builder.Row(title).collapsed(False)


def datasource_variable() -> dashboard_builder.DatasourceVariable:
    return (
        dashboard_builder.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .regex("")
    )


def query_variable(
    name: str, label: str, expr: str, *, multi: bool = True, description: str = ""
) -> dashboard_builder.QueryVariable:
    """A label_values() variable; "All" means the regex .* so an absent label matches too."""
    return (
        dashboard_builder.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DATASOURCE)
        .query({"query": expr, "refId": f"{name}-variable"})
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )


def cluster_variable(sample: str) -> dashboard_builder.QueryVariable:
    """The cluster picker, listing the clusters `sample` is scraped in (only All without any)."""
    return query_variable(
        "cluster",
        "Cluster",
        f"label_values({sample}, cluster)",
        description="Kubernetes cluster (the label a multi-cluster Prometheus adds); All also "
        "matches series without the label.",
    )


def alert_annotation(name: str, expr: str, colour: str) -> dashboard_builder.AnnotationQuery:
    return (
        dashboard_builder.AnnotationQuery()
        .name(name)
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color(colour)
        .expr(expr)
    )


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


def dashboard(uid: str, title: str, description: str) -> dashboard_builder.Dashboard:
    """An empty dashboard with the settings every ACS dashboard shares, linked to the others."""
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


def with_row(
    board: dashboard_builder.Dashboard,
    title: str,
    panels: Sequence[cogbuilder.Builder[model.Panel]],
) -> dashboard_builder.Dashboard:
    """Add a row titled `title` (a question the row answers) and its panels, in order."""
    board = board.with_row(row(title))
    for panel in panels:
        board = board.with_panel(panel)
    return board
