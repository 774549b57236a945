"""Every ACS log table the exporter reads, defined once, as data.

A `LogTable` holds all there is to know about one table: the spellings that identify it (its
name, the `Type` column, the diagnostic-settings category), where its end code, subcode and
service category sit in each export (PascalCase columns in Log Analytics results and CSV
headers, camelCase properties in diagnostic-settings JSON), which of its columns become labels
(always, or opt-in through `metrics.extra_labels`), the columns its KQL returns, the metric
family it feeds, the catalog domain its codes resolve in, and the key of its series in the
checkpoint. Sources, aggregation, state and exposition read it from here; adding a table means
adding one definition (and `register` is the one injection point, for tests).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, Literal, get_args

from acs_exporter.catalog import Domain
from acs_exporter.definitions import metrics as metric_defs
from acs_exporter.definitions.breakdowns import OS_FAMILY, RESOURCE, SDK_RELEASE, Normalisation
from acs_exporter.definitions.metrics import MetricDef


@dataclass(frozen=True, slots=True)
class Column:
    """One field of a table as the exports spell it."""

    pascal: str  # Log Analytics column, CSV header: `ParticipantEndReason`
    camel: str  # diagnostic-settings property: `participantEndReason`

    @property
    def key(self) -> str:
        """Case-insensitive lookup key (headers and properties are matched in lower case)."""
        return self.pascal.lower()


@dataclass(frozen=True, slots=True)
class Dimension:
    """A column that can become a label. `result` is its column in the KQL result.

    With a `normalise` rule (definitions/breakdowns.py) the label is derived from the column
    rather than copied: the readers apply its Python side to each record, the aggregated query
    its KQL side, and a record without the column gets the rule's value for a missing one."""

    label: str
    column: Column
    result: str
    normalise: Normalisation | None = None


@dataclass(frozen=True, slots=True, eq=False)
class LogTable:
    """One ACS log table. Compared by identity: each definition exists once."""

    name: str  # the Log Analytics table: `ACSCallSummary`
    aliases: tuple[str, ...]  # other Type / diagnostic-settings category values
    code: Column
    subcode: Column
    service_category: Column | None  # the service's own verdict (ResultCategory), if any
    fixed: tuple[Dimension, ...]  # always labels of the family
    optional: tuple[Dimension, ...]  # labels only when listed in `metrics.extra_labels`
    metric: MetricDef
    domain: Domain
    accounted: bool  # feeds the unknown / malformed / disagreement self-metrics
    state_key: str  # the key of its series in the checkpoint (never rename: saved data)

    @property
    def spellings(self) -> tuple[str, ...]:
        """Every lower-case value that names this table (Type column, category)."""
        return tuple(s.lower() for s in (self.name, *self.aliases))

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        return (*self.fixed, *self.optional)

    def labels(self, extra_labels: Sequence[str]) -> tuple[str, ...]:
        """The family's labels after the outcome labels: fixed ones, then the configured
        extra labels this table has, in their configured order."""
        optional = {d.label for d in self.optional}
        return (*(d.label for d in self.fixed), *(x for x in extra_labels if x in optional))

    def dimension(self, label: str) -> Dimension:
        for dim in self.dimensions:
            if dim.label == label:
                return dim
        raise KeyError(f"{self.name} has no dimension {label!r}")

    def __repr__(self) -> str:
        return f"LogTable({self.name})"

    def __str__(self) -> str:
        return self.name


# Result columns every table's KQL returns for code, subcode and service category.
RESULT_CODE: Final = "Code"
RESULT_SUBCODE: Final = "Subcode"
RESULT_CATEGORY: Final = "ResultCategory"

# The ACS resource a record belongs to: the standard `_ResourceId` column (Log Analytics, CSV),
# the top-level `resourceId` of a diagnostic-settings record. Every table has it.
_RESOURCE: Final = Dimension("resource", Column("_ResourceId", "resourceId"), "Resource", RESOURCE)

CALL_SUMMARY = LogTable(
    name="ACSCallSummary",
    aliases=("CallSummary",),
    code=Column("ParticipantEndReason", "participantEndReason"),
    subcode=Column("ParticipantEndSubCode", "participantEndSubCode"),
    service_category=Column("ResultCategory", "resultCategory"),
    fixed=(),
    optional=(
        Dimension("call_type", Column("CallType", "callType"), "CallType"),
        Dimension("endpoint_type", Column("EndpointType", "endpointType"), "EndpointType"),
        Dimension(
            "participant_type", Column("ParticipantType", "participantType"), "ParticipantType"
        ),
        _RESOURCE,
        Dimension("sdk_version", Column("SdkVersion", "sdkVersion"), "SdkRelease", SDK_RELEASE),
        Dimension("os", Column("OsVersion", "osVersion"), "OsFamily", OS_FAMILY),
    ),
    metric=metric_defs.CALL_ENDS,
    domain=Domain.CALL_END,
    accounted=True,
    state_key="call_ends",
)
MEDIA_SUMMARY = LogTable(
    name="ACSCallAutomationMediaSummary",
    aliases=("CallAutomationMediaSummary",),
    code=Column("ResultCode", "resultCode"),
    subcode=Column("ResultSubcode", "resultSubcode"),
    service_category=None,
    fixed=(Dimension("operation", Column("OperationName", "operationName"), "Operation"),),
    optional=(_RESOURCE,),
    metric=metric_defs.MEDIA_RESULTS,
    domain=Domain.CALL_AUTOMATION,
    accounted=False,
    state_key="media_results",
)

# Azure Monitor platform metrics (sources/azure_metrics/): counted like a table, but never read
# from log exports, so not in BUILTIN (the Log Analytics `tables:` list cannot name them).
CALL_AUTOMATION_EVENTS = LogTable(
    name="AcsCallAutomationCallbackEvent",
    aliases=(),
    code=Column("Code", "code"),
    subcode=Column("SubCode", "subCode"),
    service_category=None,
    fixed=(
        Dimension("event_type", Column("EventTypeName", "eventTypeName"), "EventTypeName"),
        Dimension("resource", Column("Resource", "resource"), "Resource"),
    ),
    optional=(),
    metric=metric_defs.CALL_AUTOMATION_EVENTS,
    domain=Domain.CALL_AUTOMATION,
    accounted=False,
    state_key="call_automation_events",
)
CALL_AUTOMATION_API_REQUESTS = LogTable(
    name="APIRequestCallAutomation",
    aliases=(),
    code=Column("StatusCode", "statusCode"),
    subcode=Column("StatusSubCode", "statusSubCode"),  # the metric has none: always `none`
    service_category=None,
    fixed=(
        Dimension("operation", Column("Operation", "operation"), "Operation"),
        Dimension("status_class", Column("StatusCodeClass", "statusCodeClass"), "StatusCodeClass"),
        Dimension("resource", Column("Resource", "resource"), "Resource"),
    ),
    optional=(),
    metric=metric_defs.CALL_AUTOMATION_API_REQUESTS,
    domain=Domain.CALL_AUTOMATION,
    accounted=False,
    state_key="call_automation_api_requests",
)
PLATFORM_METRICS: Final = (CALL_AUTOMATION_EVENTS, CALL_AUTOMATION_API_REQUESTS)

# The built-in tables, in the order rows without a Type are tried (call summary first).
BUILTIN: Final = (CALL_SUMMARY, MEDIA_SUMMARY)
TableName = Literal["ACSCallSummary", "ACSCallAutomationMediaSummary"]
# The `metrics.extra_labels` allow-list: every opt-in dimension of a built-in table.
ExtraLabel = Literal[
    "call_type", "endpoint_type", "participant_type", "resource", "sdk_version", "os"
]
# Each label once, in the order of first appearance (`resource` is an opt-in of both tables).
EXTRA_LABELS: Final = tuple(dict.fromkeys(d.label for t in BUILTIN for d in t.optional))
TABLE_NAMES: Final = tuple(t.name for t in BUILTIN)
# pydantic and mypy need the two Literals spelled out; they must say what the definitions say.
if get_args(ExtraLabel) != EXTRA_LABELS or get_args(TableName) != TABLE_NAMES:
    raise RuntimeError("tables.ExtraLabel / TableName disagree with the table definitions")

_registered: list[LogTable] = list(BUILTIN)
_by_spelling: dict[str, LogTable] = {}
_by_state_key: dict[str, LogTable] = {}


def _index() -> None:
    _by_spelling.clear()
    _by_state_key.clear()
    for table in _registered:
        _by_spelling.update(dict.fromkeys(table.spellings, table))
    # The platform metrics have counts in the checkpoint, but no spelling a log export has.
    for table in counted():
        _by_state_key[table.state_key] = table


def registered() -> tuple[LogTable, ...]:
    """Every log table the exporter reads now: the built-in ones, then any registered."""
    return tuple(_registered)


def counted() -> tuple[LogTable, ...]:
    """Every table whose counts the exporter keeps and exposes: the log tables, then the
    platform metrics (which the file readers and the KQL never see)."""
    return (*_registered, *PLATFORM_METRICS)


_index()


def by_spelling(value: object) -> LogTable | None:
    """The table a Type column value or diagnostic category names (any case), or None."""
    if isinstance(value, str):
        return _by_spelling.get(value.strip().lower())
    return None


def by_name(name: str) -> LogTable:
    table = by_spelling(name)
    if table is None:
        raise KeyError(f"no ACS table {name!r}")
    return table


def by_state_key(key: str) -> LogTable | None:
    return _by_state_key.get(key)


@contextmanager
def register(*tables: LogTable) -> Iterator[None]:
    """Read `tables` too while the block runs: the one injection point (tests define a table
    the exporter does not ship and show that nothing else has to change)."""
    for table in tables:
        taken = any(s in _by_spelling for s in table.spellings)
        if taken or table.state_key in _by_state_key:
            raise ValueError(f"{table!r} clashes with a registered table")
    _registered.extend(tables)
    _index()
    try:
        yield
    finally:
        for table in tables:
            _registered.remove(table)
        _index()


@dataclass(frozen=True)
class LabelPlan:
    """Which labels each table's family carries, decided once from `metrics.extra_labels`:
    the table's fixed dimensions plus the extra labels it has. Sources, aggregation, state and
    exposition all read this plan."""

    extra_labels: tuple[str, ...] = ()

    def labels_for(self, table: LogTable) -> tuple[str, ...]:
        return table.labels(self.extra_labels)

    def labels_of_key(self, state_key: str) -> tuple[str, ...]:
        """By checkpoint key; () for a key no registered table has (kept as saved)."""
        table = by_state_key(state_key)
        return () if table is None else self.labels_for(table)
