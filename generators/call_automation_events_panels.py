"""The dashboard row of Call Automation callback events from Azure Monitor platform metrics
(an `azure_metrics` source, issue #15): failed events by type and code, the failure share per
resource against ACSCallAutomationFailureBurst's threshold, and API requests by status class."""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from acs_exporter.definitions.metrics import CALL_AUTOMATION_API_REQUESTS, CALL_AUTOMATION_EVENTS
from generators import recorded
from generators.panels import (
    CLUSTER,
    LEADER,
    dashed_lines,
    query,
    sum_rate_once,
    timeseries_panel,
)
from generators.rules import FAILED_EVENT_TYPES
from generators.thresholds import Thresholds

REC = f'{CLUSTER}, job=~"$job", source=~"$source"'
EVENTS = CALL_AUTOMATION_EVENTS.sample
REQUESTS = CALL_AUTOMATION_API_REQUESTS.sample


def _failed_events() -> timeseries.Panel:
    failed = f'{REC}, event_type=~"{FAILED_EVENT_TYPES}"'
    return timeseries_panel(
        "Failed callback events by type and code",
        "Call Automation callback events whose type ends in Failed (PlayFailed, "
        "RecognizeFailed, CallTransferFailed, ...) per second, by resource, type and code "
        f"({EVENTS}, platform metric AcsCallAutomationCallbackEvent, each minute counted "
        "once it settled).",
        [
            query(
                sum_rate_once("resource, event_type, code, subcode", EVENTS, failed, LEADER),
                "{{resource}} {{event_type}} {{code}}/{{subcode}}",
            )
        ],
        "ops",
        stacked=common.StackingMode.NORMAL,
    )


def _failure_share(t: Thresholds) -> timeseries.Panel:
    burst = t.call_automation_failure_burst
    panel = timeseries_panel(
        "Callback event failure share by resource",
        "Share of each resource's callback events that failed over 5 minutes. Dashed red "
        f"line: ACSCallAutomationFailureBurst's threshold ({burst.share:.0%}), which also needs "
        f"{burst.min_events} events in 5 minutes.",
        [query(f"{recorded.EVENT_FAILURE_RATIO_5M}{{{REC}}}", "{{resource}} {{source}}")],
        "percentunit",
    )
    return dashed_lines(panel, (burst.share, "red"))


def _api_requests() -> timeseries.Panel:
    return timeseries_panel(
        "Call Automation API requests by status class",
        f"Requests per second to the Call Automation API by resource, operation and status "
        f"class ({REQUESTS}, platform metric APIRequestCallAutomation).",
        [
            query(
                sum_rate_once("resource, operation, status_class", REQUESTS, REC, LEADER),
                "{{resource}} {{operation}} {{status_class}}",
            )
        ],
        "reqps",
        width=24,
    )


def call_automation_events(t: Thresholds) -> list[cogbuilder.Builder[model.Panel]]:
    return [_failed_events(), _failure_share(t), _api_requests()]
