"""Names of the recording rules (alerts/acs-exporter.rules.yaml), defined once for the rules
generator that writes them and the dashboards that read them.

A recorded name is `level:metric:operations` (Prometheus' convention); the metric part comes
from acs_exporter.definitions.metrics, so a renamed family renames its recordings too. Names
that end in a window (`...:rate`, `...:ratio_rate`) take it as a suffix: `CALL_RATE + "5m"`.
"""

from __future__ import annotations

from acs_exporter.definitions.metrics import (
    CALL_AUTOMATION_EVENTS,
    CALL_ENDS,
    CATEGORY_DISAGREEMENTS,
    MEDIA_RESULTS,
)

# The share of call ends in UnexpectedServerError, and the share of media results that failed.
_SERVER_ERRORS = f"{CALL_ENDS.name}_unexpected_server_error"
_MEDIA_FAILURES = MEDIA_RESULTS.name.removesuffix("_results") + "_failures"

SERVER_ERROR_RATIO = f"source:{_SERVER_ERRORS}:ratio_rate"
# Call ends per second by category, per scraped exporter (its target labels kept): each window's
# rate read from the raw series once, for the per-source recordings to count once from.
TARGET_CATEGORY_RATE = f"instance_category:{CALL_ENDS.name}:rate"
BASELINE = f"source:{_SERVER_ERRORS}:ratio_baseline"
CALL_RATE = f"source:{CALL_ENDS.name}:rate"
CATEGORY_RATE = f"source_category:{CALL_ENDS.name}:rate5m"
CATEGORY_RATIO = f"source_category:{CALL_ENDS.name}:ratio_rate5m"
DISAGREEMENTS = f"source_pair:{CATEGORY_DISAGREEMENTS.name}:increase"
MEDIA_RATE = f"source_operation:{MEDIA_RESULTS.name}:rate5m"
MEDIA_FAILURE_RATIO = f"source_operation:{_MEDIA_FAILURES}:ratio_rate5m"

# Call Automation callback events (platform metrics) per resource, and the share that failed.
EVENTS_5M = f"source_resource:{CALL_AUTOMATION_EVENTS.name}:increase5m"
EVENT_FAILURE_RATIO_5M = (
    f"source_resource:{CALL_AUTOMATION_EVENTS.name.removesuffix('_events')}_failed_events"
    ":ratio_increase5m"
)

CALL_RATE_5M = f"{CALL_RATE}5m"
CATEGORY_RATE_5M = CATEGORY_RATE
MEDIA_FAILURE_RATIO_5M = MEDIA_FAILURE_RATIO


def server_error_ratio(window: str) -> str:
    """The UnexpectedServerError share of call ends over `window` (5m ... 3d), per source."""
    return f"{SERVER_ERROR_RATIO}{window}"


def server_error_baseline(window: str) -> str:
    """The UnexpectedServerError share over the baseline `window` that ended a while ago."""
    return f"{BASELINE}{window}"
