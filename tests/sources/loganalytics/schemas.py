"""The real column lists of the ACS tables (docs: Azure Monitor Logs reference), for the Kusto
language service and for the local server's fixture tables alike."""

from __future__ import annotations

# Standard columns every Log Analytics table carries.
_STANDARD = (
    ("TenantId", "string"),
    ("SourceSystem", "string"),
    ("Type", "string"),
    ("_ResourceId", "string"),
    ("_SubscriptionId", "string"),
)

TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "ACSCallSummary": (
        ("TimeGenerated", "datetime"),
        ("CorrelationId", "string"),
        ("ParticipantId", "string"),
        ("EndpointId", "string"),
        ("ParticipantEndReason", "string"),
        ("ParticipantEndSubCode", "string"),
        ("ResultCategory", "string"),
        ("CallType", "string"),
        ("EndpointType", "string"),
        ("ParticipantType", "string"),
        ("PstnParticipantCallType", "string"),
        ("SdkVersion", "string"),
        ("OsVersion", "string"),
        ("CallStartTime", "datetime"),
        ("ParticipantStartTime", "datetime"),
        ("CallDuration", "long"),
        ("ParticipantDuration", "long"),
        ("Identifier", "string"),
        ("TeamsThreadId", "string"),
        ("ParticipantTenantId", "string"),
        ("DiagnosticOptions", "string"),
        ("CallDebuggingInfo", "string"),
        *_STANDARD,
    ),
    "ACSCallAutomationMediaSummary": (
        ("TimeGenerated", "datetime"),
        ("CorrelationId", "string"),
        ("OperationName", "string"),
        ("ResultCode", "int"),
        ("ResultSubcode", "int"),
        ("ResultMessage", "string"),
        ("ResultType", "string"),
        *_STANDARD,
    ),
}
