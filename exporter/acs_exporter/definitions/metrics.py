"""Every metric family the exporter exposes, declared once, as data.

Names, types, help texts and label names live here and nowhere else: the families built from a
snapshot (exposition/families.py), docs/metrics.md, the dashboards and the alert rules take them
from this table, so a rename cannot leave a panel, a rule or a doc line behind (tests/ check
all four).

`labels` are the labels every series carries; `optional_labels` those that appear only when
configured (`metrics.extra_labels`, the `source` label with several sources).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]


def sample_name(name: str, kind: str) -> str:
    """The name a family's samples carry: a counter's get `_total` (the OpenMetrics rule that
    /metrics, the prometheus_client path, OTLP and every query follow; defined here once)."""
    return f"{name}_total" if kind == "counter" else name


@dataclass(frozen=True, slots=True)
class MetricDef:
    """One family. `name` is the family name; counters are exposed with `_total`."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    optional_labels: tuple[str, ...] = ()
    # docs/metrics.md's "meaning" column (markdown), richer than `help`; generated from here
    # (generators/metrics_doc.py).
    doc: str = ""
    # (label, its values or what they mean): written in parentheses after the label in the doc.
    label_values: tuple[tuple[str, str], ...] = ()

    @property
    def sample(self) -> str:
        """The sample name a query uses: `acs_call_ends_total` for a counter."""
        return sample_name(self.name, self.kind)

    @property
    def bucket(self) -> str:
        """A histogram's `_bucket` series (what histogram_quantile reads)."""
        if self.kind != "histogram":
            raise ValueError(f"{self.name} is a {self.kind}, not a histogram")
        return f"{self.name}_bucket"


OUTCOME_LABELS = ("code", "subcode", "category")
SOURCE = ("source",)

# --- call outcomes ------------------------------------------------------------------------------

CALL_ENDS = MetricDef(
    "acs_call_ends",
    "counter",
    "Participant call ends by end reason (one per ACSCallSummary row), with the category of the "
    "(code, subcode) pair (the catalog's, or the service's: metrics.category_source).",
    OUTCOME_LABELS,
    ("call_type", "endpoint_type", "participant_type", "resource", "sdk_version", "os", "source"),
    doc="participant call ends, one per `ACSCallSummary` row",
)
MEDIA_RESULTS = MetricDef(
    "acs_call_automation_media_results",
    "counter",
    "Call Automation media operation outcomes (one per ACSCallAutomationMediaSummary row) by "
    "result code, subcode and category.",
    (*OUTCOME_LABELS, "operation"),
    ("resource", "source"),
    doc=("Call Automation media operation outcomes, one per `ACSCallAutomationMediaSummary` row"),
)
# Azure Monitor platform metrics of the ACS resource (sources[].type azure_metrics, issue #15).
CALL_AUTOMATION_EVENTS = MetricDef(
    "acs_call_automation_events",
    "counter",
    "Call Automation callback events (platform metric AcsCallAutomationCallbackEvent) by event "
    "type, code, subcode and category, per ACS resource, counted once per settled minute.",
    (*OUTCOME_LABELS, "event_type", "resource"),
    SOURCE,
    doc=(
        "Call Automation callback events (`PlayFailed`, `RecognizeFailed`, ...) from the "
        "platform metric `AcsCallAutomationCallbackEvent`, one per event"
    ),
)
CALL_AUTOMATION_API_REQUESTS = MetricDef(
    "acs_call_automation_api_requests",
    "counter",
    "Call Automation API requests (platform metric APIRequestCallAutomation) by operation and "
    "HTTP status (code: the status code, status_class: 2xx, 4xx, ...), per ACS resource.",
    (*OUTCOME_LABELS, "operation", "status_class", "resource"),
    SOURCE,
    doc=(
        "Call Automation API requests from the platform metric `APIRequestCallAutomation`; "
        "`code` is the HTTP status code"
    ),
)
CATEGORY_DISAGREEMENTS = MetricDef(
    "acs_call_end_category_disagreements",
    "counter",
    "Participant call ends whose documented category (catalog) and ResultCategory (service) "
    "differ; metrics.category_source decides which one `category` carries.",
    ("code", "subcode", "catalog_category", "service_category"),
    SOURCE,
    doc=(
        "participant call ends on which the catalog's documented row and the service's "
        "`ResultCategory` disagree (see below)"
    ),
)
END_REASON_INFO = MetricDef(
    "acs_end_reason_info",
    "gauge",
    "What an end reason means (always 1): category, message, advice and the documentation page; "
    'join on (code, subcode) with domain="call-end" (call ends) or "call-automation" (media '
    "results).",
    ("code", "subcode", "category", "domain", "message", "advice", "doc_url"),
    doc=(
        "one series per (counter, `code`, `subcode`) an outcome counter can carry; join on "
        '(`code`, `subcode`) with `domain="call-end"` (call ends) or `domain="call-automation"` '
        '(media results): see "Joining acs_end_reason_info" below'
    ),
)

# --- the exporter itself ------------------------------------------------------------------------

BUILD_INFO = MetricDef(
    "acs_exporter_build_info",
    "gauge",
    "Build information of the running exporter (always 1).",
    ("version", "python_version"),
    doc="build information",
)
SOURCE_UP = MetricDef(
    "acs_exporter_source_up",
    "gauge",
    "1 when the last poll of the source succeeded; 0 when it failed or none has finished yet.",
    SOURCE,
    doc=("1 when the last poll of the source succeeded; 0 when it failed or none has finished yet"),
)
LAST_SUCCESSFUL_POLL = MetricDef(
    "acs_exporter_last_successful_poll_timestamp_seconds",
    "gauge",
    "Unix time of the last successful poll of the source.",
    SOURCE,
    doc="Unix time of the last successful poll",
)
CURSOR_TIMESTAMP = MetricDef(
    "acs_exporter_cursor_timestamp_seconds",
    "gauge",
    "How far the source has been read: ingestion time of its cursor, Unix seconds.",
    SOURCE,
    doc="how far the source has been read (ingestion time)",
)
CURSOR_LAG = MetricDef(
    "acs_exporter_cursor_lag_seconds",
    "gauge",
    "Now minus the source's cursor: how far behind real time the counts are.",
    SOURCE,
    doc="now minus the cursor",
)
POLL_DURATION = MetricDef(
    "acs_exporter_poll_duration_seconds",
    "histogram",
    "Time spent in one poll of the source, including the query.",
    SOURCE,
    doc="time spent in one poll",
)
POLLS = MetricDef(
    "acs_exporter_polls",
    "counter",
    "Polls of the source by outcome (success, error), since the process started.",
    ("source", "outcome"),
    doc="polls",
    label_values=(("outcome", "`success`, `error`"),),
)
RECORDS_READ = MetricDef(
    "acs_exporter_records_read",
    "counter",
    "Records read from the source and counted (calls, not query rows).",
    SOURCE,
    doc="records read (before aggregation in the query: calls, not rows)",
)
RECORDS_REJECTED = MetricDef(
    "acs_exporter_records_rejected",
    "counter",
    "Records that could not be read at all, by reason; the source logs where.",
    ("source", "reason"),
    doc="records that could not be read at all",
    label_values=(
        (
            "reason",
            "`invalid_count` from the daemon on every source: an observation with a negative "
            "count, which a source or a custom query got wrong; and the reasons of a files "
            "source and of an Azure Monitor metrics source (`missing_dimension`, "
            "`invalid_value`), docs/sources.md",
        ),
    ),
)
QUERY_ERRORS = MetricDef(
    "acs_exporter_query_errors",
    "counter",
    "Failed polls of the source by reason, since the process started.",
    ("source", "reason"),
    doc="failed polls",
    label_values=(
        (
            "reason",
            "`throttled`, `server_error`, `timeout`, `connection`, `auth`, `bad_query`, "
            "`partial`, `truncated` from Log Analytics (and, but `partial`, from Azure Monitor "
            "metrics, with `resource_error` when one resource of a batch failed); "
            "`record_file` from the simulator when "
            "it cannot append to its `record_file`; `bad_cursor` from any source when its saved "
            "cursor in the checkpoint is damaged or was written by another source type or a "
            "newer release (the poll fails, nothing is counted and the cursor is not reset: fix "
            "or delete that source's checkpoint entry); and from the daemon: `checkpoint_write` "
            "when the batch could not be persisted, `internal` for an unexpected error in a "
            "source",
        ),
    ),
)
DISCOVERY_ERRORS = MetricDef(
    "acs_exporter_discovery_errors",
    "counter",
    "Failed discoveries of a subscription's ACS resources by reason, since the process started "
    "(azure_metrics subscriptions); the resources found before are still read.",
    ("source", "reason"),
    doc=(
        "failed discoveries of one subscription's ACS resources through Azure Resource Manager "
        "(an azure_metrics source's `subscriptions`); the resources it found before are still "
        "read, and the poll fails only while a subscription has never been discovered and no "
        "`resource_ids` are listed (docs/sources.md)"
    ),
    label_values=(
        (
            "reason",
            "`auth` (401/403: grant Reader), `throttled` (429), `server_error` (5xx, or an "
            "answer that is not a list of ACS resources of the subscription), `timeout`, "
            "`connection`, `bad_query` (another 4xx: a subscription that does not exist)",
        ),
    ),
)
DISCOVERED_RESOURCES = MetricDef(
    "acs_exporter_discovered_resources",
    "gauge",
    "ACS resources the last successful discovery of each of the source's subscriptions found "
    "and the source reads (azure_metrics subscriptions).",
    SOURCE,
    doc=(
        "ACS resources the last successful discovery of each of an azure_metrics source's "
        "`subscriptions` found, and the source reads (also those listed in `resource_ids`, "
        "counted once; resources only listed are not counted); only for a source with "
        "`subscriptions`, 0 until its first discovery succeeds"
    ),
)
UNKNOWN_END_REASONS = MetricDef(
    "acs_exporter_unknown_end_reasons",
    "counter",
    "Call ends whose end reason the catalog did not know (category Unknown).",
    SOURCE,
    doc="call ends whose end reason the catalog did not know (category `Unknown`)",
)
MALFORMED_END_REASONS = MetricDef(
    "acs_exporter_malformed_end_reasons",
    "counter",
    "Call ends whose code or subcode was empty, null, negative or not an integer.",
    SOURCE,
    doc="call ends with a malformed code or subcode",
)
FOLDED_RECORDS = MetricDef(
    "acs_exporter_folded_records",
    "counter",
    "Records whose value of `label` the cardinality guard replaced by `other` in the series of "
    "`family` (category kept).",
    ("family", "label"),
    doc=(
        "records whose value of `label` (`code`, `subcode`, `operation`, an extra label) the "
        f"cardinality guard replaced by `other` in `family` (`{CALL_ENDS.sample}`, "
        f"`{MEDIA_RESULTS.sample}`)"
    ),
)
SERIES = MetricDef(
    "acs_exporter_series",
    "gauge",
    "Distinct outcome series currently exported.",
    doc="distinct outcome series currently exported",
)
SERIES_LIMIT = MetricDef(
    "acs_exporter_series_limit",
    "gauge",
    "Configured ceiling on distinct outcome series (metrics.max_series).",
    doc="the configured ceiling on those series",
)
CONFIG_RELOAD_SUCCESSFUL = MetricDef(
    "acs_exporter_config_last_reload_successful",
    "gauge",
    "Whether the last configuration reload attempt was successful (1) or not (0).",
    doc=(
        "1 when the last SIGHUP reload applied the configuration, 0 when it was rejected (the "
        "previous one keeps running); 1 from start-up"
    ),
)
CONFIG_RELOAD_SUCCESS_TIMESTAMP = MetricDef(
    "acs_exporter_config_last_reload_success_timestamp_seconds",
    "gauge",
    "Unix time of the last successful configuration load (start-up or reload).",
    doc="Unix time of the last successful configuration load (start-up or reload)",
)

# --- shared state (state.backend azure_blob) -----------------------------------------------------

STATE_LEADER = MetricDef(
    "acs_exporter_state_leader",
    "gauge",
    "Whether this replica holds the checkpoint blob's lease and polls (1) or is a standby "
    "serving the leader's checkpoint (0). Only with state.backend azure_blob.",
    doc=(
        "1 on the replica that holds the checkpoint blob's lease and polls, 0 on a standby "
        "(which serves the leader's checkpoint); only with `state.backend: azure_blob`"
    ),
)
STATE_STORE_UP = MetricDef(
    "acs_exporter_state_store_up",
    "gauge",
    "Whether the last operation on the checkpoint blob succeeded (1) or not (0).",
    doc=(
        "1 when the last read, write or lease renewal of the checkpoint blob succeeded, 0 while "
        "the storage account cannot be reached (the leader then publishes nothing new)"
    ),
)
STATE_COMMITS = MetricDef(
    "acs_exporter_state_commits",
    "counter",
    "Checkpoints this replica wrote to the blob (each conditional on its ETag and lease).",
    doc="checkpoints this replica wrote to the blob, each conditional on the blob's ETag and lease",
)
STATE_WRITE_CONFLICTS = MetricDef(
    "acs_exporter_state_write_conflicts",
    "counter",
    "Checkpoint writes the storage refused because another replica holds the lease or changed "
    "the blob (the batch is not counted; this replica steps down).",
    doc=(
        "checkpoint writes refused because another replica holds the lease or changed the blob "
        "since this one read it; the batch is not counted and this replica steps down"
    ),
)

# Everything above, in the order docs/metrics.md lists it.
ALL: tuple[MetricDef, ...] = (
    CALL_ENDS,
    MEDIA_RESULTS,
    CALL_AUTOMATION_EVENTS,
    CALL_AUTOMATION_API_REQUESTS,
    CATEGORY_DISAGREEMENTS,
    END_REASON_INFO,
    BUILD_INFO,
    SOURCE_UP,
    LAST_SUCCESSFUL_POLL,
    CURSOR_TIMESTAMP,
    CURSOR_LAG,
    POLL_DURATION,
    POLLS,
    RECORDS_READ,
    RECORDS_REJECTED,
    QUERY_ERRORS,
    DISCOVERY_ERRORS,
    DISCOVERED_RESOURCES,
    UNKNOWN_END_REASONS,
    MALFORMED_END_REASONS,
    FOLDED_RECORDS,
    SERIES,
    SERIES_LIMIT,
    CONFIG_RELOAD_SUCCESSFUL,
    CONFIG_RELOAD_SUCCESS_TIMESTAMP,
    STATE_LEADER,
    STATE_STORE_UP,
    STATE_COMMITS,
    STATE_WRITE_CONFLICTS,
)
# Served only with state.backend azure_blob (by pipeline/leadership.py): the file backend has
# one replica, which always leads.
AZURE_BLOB_ONLY: tuple[MetricDef, ...] = (
    STATE_LEADER,
    STATE_STORE_UP,
    STATE_COMMITS,
    STATE_WRITE_CONFLICTS,
)
# Served only for a source that discovers its resources (azure_metrics `subscriptions`).
DISCOVERY_ONLY: tuple[MetricDef, ...] = (DISCOVERY_ERRORS, DISCOVERED_RESOURCES)
