"""Names of the recording rules (alerts/acs-exporter.rules.yaml) that the dashboards read.

A recorded name is `level:metric:operations` (Prometheus' convention); the metric part comes
from acs_exporter.metric_defs, so a renamed family renames its recordings too. The rules
generator writes these rules; tests/dashboards checks that every name read here is recorded.
"""

from __future__ import annotations

from acs_exporter.metric_defs import CALL_ENDS, MEDIA_RESULTS

# The share of call ends in UnexpectedServerError, and the share of media results that failed.
_SERVER_ERRORS = f"{CALL_ENDS.name}_unexpected_server_error"
_MEDIA_FAILURES = MEDIA_RESULTS.name.replace("_results", "_failures")

CALL_RATE_5M = f"source:{CALL_ENDS.name}:rate5m"
CATEGORY_RATE_5M = f"source_category:{CALL_ENDS.name}:rate5m"
MEDIA_FAILURE_RATIO_5M = f"source_operation:{_MEDIA_FAILURES}:ratio_rate5m"


def server_error_ratio(window: str) -> str:
    """The UnexpectedServerError share of call ends over `window` (5m ... 3d), per source."""
    return f"source:{_SERVER_ERRORS}:ratio_rate{window}"


def server_error_baseline(window: str) -> str:
    """The UnexpectedServerError share over the baseline `window` that ended a while ago."""
    return f"source:{_SERVER_ERRORS}:ratio_baseline{window}"
