"""Configuration of one Azure Monitor metrics source (`sources:` entry, `type: azure_metrics`)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from acs_exporter.inputs.types import (
    DAY,
    READ_DURATION,
    BaseUrl,
    FilePath,
    PollInterval,
    between,
    source_name,
)

MINUTE = timedelta(minutes=1)
# Platform metrics are kept 93 days; the batch API answers at most 30 days at PT1M per call.
RETENTION = timedelta(days=93)
# The metrics batch API takes at most 50 resource ids per call.
MAX_RESOURCES_PER_CALL = 50

_ACS_RESOURCE = re.compile(
    r"^/subscriptions/(?P<subscription>[^/\s?#%]+)/resourceGroups/[^/\s?#%]+/providers/"
    r"Microsoft\.Communication/communicationServices/(?P<name>[^/\s?#%]+)$",
    re.IGNORECASE,
)


def check_acs_resource_id(value: str) -> str:
    if not _ACS_RESOURCE.match(value):
        raise ValueError(
            "expected an ACS resource id: /subscriptions/SUB/resourceGroups/RG/providers/"
            "Microsoft.Communication/communicationServices/NAME"
        )
    return value


def subscription_of(resource_id: str) -> str:
    match = _ACS_RESOURCE.match(resource_id)
    if match is None:  # validated by the settings
        raise ValueError(f"not an ACS resource id: {resource_id}")
    return match["subscription"].lower()


def resource_name(resource_id: str) -> str:
    """The `resource` label: the resource's name (ACS names are globally unique)."""
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


AcsResourceId = Annotated[str, AfterValidator(check_acs_resource_id)]
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def check_subscription_id(value: str) -> str:
    if not _GUID.match(value):
        raise ValueError(
            "expected a subscription id (a GUID, e.g. 00000000-0000-0000-0000-000000000000)"
        )
    return value


SubscriptionId = Annotated[str, AfterValidator(check_subscription_id)]
# How often ARM is asked which ACS resources the subscriptions hold: ARM's read limits are per
# subscription and principal, and one list call a minute is far below them.
DiscoveryInterval = Annotated[timedelta, READ_DURATION, between(MINUTE, DAY)]
ARM_ENDPOINT = "https://management.azure.com"
SettleDelay = Annotated[timedelta, READ_DURATION, between(timedelta(0), timedelta(hours=1))]
MaxWindow = Annotated[timedelta, READ_DURATION, between(MINUTE, DAY)]
InitialLookback = Annotated[timedelta, READ_DURATION, between(timedelta(0), RETENTION)]
_REGION = r"^[a-z0-9]+$"


class AzureMetricsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    type: Literal["azure_metrics"]
    name: str = source_name("azure-metrics")
    resource_ids: list[AcsResourceId] = Field(
        default_factory=list,
        description="ACS resource ids (/subscriptions/.../communicationServices/NAME), all in "
        "`region`; read 50 to a call, one call per subscription.",
    )
    subscriptions: list[SubscriptionId] = Field(
        default_factory=list,
        description="Subscription ids whose ACS resources (Microsoft.Communication/"
        "communicationServices) are discovered through Azure Resource Manager and read beside "
        "`resource_ids`; the identity needs Reader (or .../communicationServices/read) there.",
    )
    discovery_interval: DiscoveryInterval = Field(
        timedelta(minutes=10),
        description="How often the subscriptions' ACS resources are listed (1m to 1d).",
    )
    arm_endpoint: BaseUrl = Field(
        ARM_ENDPOINT,
        description="Azure Resource Manager endpoint for the discovery (sovereign clouds, "
        "tests); the token is for its cloud's ARM audience (ENDPOINT/.default if unknown).",
    )
    region: str | None = Field(
        None,
        pattern=_REGION,
        description="Region of the resources' metrics: the endpoint is "
        "https://REGION.metrics.monitor.azure.com; ACS resources are global (`global`).",
    )
    endpoint: BaseUrl | None = Field(
        None, description="Metrics endpoint instead of the region's (sovereign clouds, tests)."
    )
    audience: str | None = Field(
        None, description="Token audience; defaults to https://metrics.monitor.azure.com."
    )
    poll_interval: PollInterval = timedelta(seconds=60)
    settle_delay: SettleDelay = Field(
        timedelta(minutes=3),
        description="A minute is counted once it ended this long ago: the service may still "
        "revise the value of the last minutes, and a minute is counted only once.",
    )
    max_window: MaxWindow = Field(
        timedelta(hours=1), description="Most minutes read per call when catching up."
    )
    initial_lookback: InitialLookback = Field(
        timedelta(0),
        description="On the very first start (no checkpoint), also count this long before "
        "start-up. 0 counts from start-up on.",
    )
    max_series: int = Field(
        1000,
        ge=10,
        le=100_000,
        description="`top` of each call: most series (dimension combinations) per resource. "
        "A result with this many is refused as truncated, never counted in part.",
    )
    tls_ca_file: FilePath | None = Field(
        None,
        description="CA bundle to trust for the endpoint and arm_endpoint (private links, TLS "
        "proxies).",
    )

    @model_validator(mode="after")
    def _check(self) -> AzureMetricsSettings:
        if not self.resource_ids and not self.subscriptions:
            raise ValueError(
                "list at least one ACS resource id in resource_ids or one subscription id in "
                "subscriptions (its ACS resources are discovered)"
            )
        seen: set[str] = set()
        for index, subscription in enumerate(self.subscriptions):
            if subscription.lower() in seen:
                raise ValueError(
                    f"subscriptions[{index}] lists {subscription} again (subscription ids are "
                    "case-insensitive): list each once"
                )
            seen.add(subscription.lower())
        keys = [r.lower() for r in self.resource_ids]
        if len(set(keys)) != len(keys):
            raise ValueError("resource_ids: each resource may be listed once")
        if (self.region is None) == (self.endpoint is None):
            raise ValueError("set region (or, for sovereign clouds and tests, endpoint): one")
        for name in ("settle_delay", "max_window", "initial_lookback"):
            if getattr(self, name) % MINUTE:
                raise ValueError(f"{name} must be whole minutes (the metrics are per minute)")
        return self

    def effective_endpoint(self) -> str:
        if self.endpoint is not None:
            return self.endpoint
        return f"https://{self.region}.metrics.monitor.azure.com"
