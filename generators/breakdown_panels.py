"""The breakdown labels on the end-reasons dashboard (#13): a variable per label and the
"what changed" table ranking SDK releases, platforms and resources by how far their
Unexpected*Error share is above their own baseline.

The labels exist only where `metrics.extra_labels` switches them on; a variable's All is `.*`,
which also matches series without the label, so every panel keeps working without them.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from acs_exporter.catalog.model import Category
from acs_exporter.definitions.metrics import CALL_ENDS
from generators.panels import (
    columns,
    instant_table_query,
    query_variable,
    sorted_descending,
    table_panel,
    thresholds,
)
from generators.thresholds import Thresholds

# (label, variable title, what it is): in the order of the variables and of the table.
BREAKDOWNS = (
    ("sdk_version", "SDK release", "calling SDK release (major.minor of SdkVersion)"),
    ("os", "Platform", "OS family of the client (from OsVersion or the browser's user agent)"),
    ("resource", "Resource", "ACS resource (last segment of _ResourceId)"),
)
# The matchers of the breakdown variables, for the panels that read the raw counter.
MATCHERS = ", ".join(f'{label}=~"${label}"' for label, _, _ in BREAKDOWNS)
FAILING = f"{Category.UNEXPECTED_CLIENT_ERROR}|{Category.UNEXPECTED_SERVER_ERROR}"
RECENT = "15m"
_RECENT_RANGE = f"[{RECENT}]"
# The baseline, as the spike alert takes it: the day that ended an hour ago.
BASELINE = "[1d] offset 1h"


def with_breakdown_variables(
    board: dashboard_builder.Dashboard, selector: str
) -> dashboard_builder.Dashboard:
    for label, title, what in BREAKDOWNS:
        board = board.with_variable(
            query_variable(
                label,
                title,
                f"label_values({CALL_ENDS.sample}{{{selector}}}, {label})",
                description=f"{what}; only with metrics.extra_labels: {label}. All also "
                "matches series without the label.",
            )
        )
    return board


def _share(label: str, selector: str, window: str) -> str:
    """Unexpected*Error share of call ends by `label` over `window` (0 when none failed)."""
    calls = f"sum by ({label}) (rate({CALL_ENDS.sample}{{{selector}}}{window}))"
    failing = f'{CALL_ENDS.sample}{{{selector}, category=~"{FAILING}"}}'
    return f"(sum by ({label}) (rate({failing}{window})) or 0 * {calls}) / {calls}"


def change_query(label: str, selector: str) -> str:
    """By value of `label`: its failing share over the last 15m minus its baseline share (0
    while there is no baseline yet, as for the spike alert: the share alone decides), with the
    label's name in `breakdown` and its value in `value`."""
    recent = _share(label, selector, _RECENT_RANGE)
    baseline = _share(label, selector, BASELINE)
    change = f"({recent})\n- (\n  ({baseline})\n  or 0 * ({recent})\n)"
    named = f'label_replace(\n{change},\n"value", "$1", "{label}", "(.*)")'
    return f'sum by (breakdown, value) (label_replace({named}, "breakdown", "{label}", "", ""))'


def what_changed(selector: str, t: Thresholds) -> table.Panel:
    spike = t.server_error_spike.share
    ranked = "topk(15,\n" + "\nor\n".join(change_query(b, selector) for b, _, _ in BREAKDOWNS)
    names = {"breakdown": "Breakdown", "value": "Value", "Value": "Change in failing share"}
    return (
        table_panel(
            "What changed: failing share against its own baseline",
            "SDK releases, platforms (OS families) and ACS resources ranked by how much their "
            "share of call ends in UnexpectedClientError or UnexpectedServerError over the "
            f"last {RECENT} is above their own share over the day that ended an hour ago (no "
            "baseline yet: the share itself). A bad release or one failing resource comes "
            "first. Needs metrics.extra_labels: sdk_version, os, resource (an empty value: "
            "the label is off).",
            [instant_table_query(ranked + "\n)")],
            height=9,
        )
        .with_transformation(columns(names))
        .sort_by(sorted_descending("Change in failing share"))
        .unit("percentunit")
        # Red from the spike alert's share: that much more failing than usual is an incident.
        .thresholds(thresholds((None, "green"), (spike / 2, "orange"), (spike, "red")))
        .color_scheme(dashboard_builder.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .cell_options(common.TableColoredBackgroundCellOptions())
    )
