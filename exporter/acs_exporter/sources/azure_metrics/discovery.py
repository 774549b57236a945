"""Which ACS resources a subscription holds, through Azure Resource Manager: the real
azure-mgmt-communication SDK (`CommunicationServiceManagementClient.communication_services
.list_by_subscription`, which follows ARM's `nextLink` pages), with the source's credential and
a token for the ARM endpoint's audience (arm_scopes).

The SDK is imported here, and this module only when `subscriptions` is configured. Every entry
of the answer is checked (an object, of type Microsoft.Communication/CommunicationServices, with
an id that parses as an ACS resource id of the subscription asked): one that is not fails the
subscription's discovery as a whole (`server_error`, naming the entry), so a resource is never
dropped from the polled set because its entry could not be read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import RetryPolicy

from acs_exporter.inputs.redact import mask_urls, shorten_repr
from acs_exporter.sources.azure_metrics.client import from_http_error
from acs_exporter.sources.azure_metrics.reasons import QueryError
from acs_exporter.sources.azure_metrics.settings import check_acs_resource_id, subscription_of
from acs_exporter.sources.base import SourceError
from acs_exporter.sources.loganalytics import errors as la_errors

ACS_TYPE = "Microsoft.Communication/CommunicationServices"
# ARM pages lists of resources (up to 1,000 a page for most types): more pages than this is a
# nextLink that never ends, not a subscription, and must not hang the poll.
MAX_PAGES = 1000
READER_HINT = (
    "grant the exporter's identity 'Reader' on the subscription (or a role with "
    "Microsoft.Communication/communicationServices/read)"
)


# The longest Retry-After the SDK may sleep inside a poll; a longer one ends its retries, and
# the source waits for it before the next discovery (resource_set.py), reading meanwhile.
MAX_RETRY_SLEEP = 5.0


class ShortRetry(RetryPolicy[Any, Any]):
    """The SDK's retries, without a long sleep in the poll thread (which reads the metrics
    too): a Retry-After above MAX_RETRY_SLEEP is not waited for here."""

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after is not None and retry_after > MAX_RETRY_SLEEP:
            return False
        return bool(super().is_retry(settings, response))


class BadEntry(Exception):
    """An entry of ARM's answer that is not an ACS resource of the subscription."""


@dataclass(frozen=True)
class Found:
    """One ACS resource as ARM lists it."""

    resource_id: str
    location: str | None  # "global" for ACS resources
    data_location: str | None  # where its data is stored at rest ("United States", ...)


class ArmDiscovery:
    """Lists the ACS resources of subscriptions; one SDK client per subscription."""

    def __init__(
        self,
        credential: TokenCredential,
        *,
        endpoint: str,
        connection_verify: str | bool = True,
        timeout: float = 30.0,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self._credential = credential
        self._max_pages = max_pages
        self._endpoint = endpoint.rstrip("/")
        self._kwargs: dict[str, Any] = {
            # A failed discovery is retried at a later poll; here only briefly.
            "retry_policy": ShortRetry(
                retry_total=2, retry_backoff_factor=0.5, retry_backoff_max=8
            ),
            "connection_timeout": 10,
            "read_timeout": timeout,
            "connection_verify": connection_verify,
        }
        self._clients: dict[str, Any] = {}

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def _client(self, subscription: str) -> Any:
        client = self._clients.get(subscription)
        if client is None:
            from azure.mgmt.communication import CommunicationServiceManagementClient

            client = CommunicationServiceManagementClient(
                self._credential,
                subscription,
                base_url=self._endpoint,
                credential_scopes=arm_scopes(self._endpoint),
                **self._kwargs,
            )
            self._clients[subscription] = client
        return client

    def list_resources(self, subscription: str) -> list[Found]:
        """The ACS resources of `subscription`, every page. Raises SourceError."""
        where = f"discovery of the ACS resources of subscription {subscription}"
        try:
            items = self._items(subscription)
            return [_found(item, subscription, f"entry {i}") for i, item in enumerate(items)]
        except ClientAuthenticationError as error:
            if error.response is None:  # no token: the credential failed, ARM was not asked
                raise SourceError(
                    QueryError.AUTH,
                    f"{where}: could not get a token for Azure Resource Manager: "
                    f"{mask_urls(str(error.message))}; configure workload identity, a managed "
                    "identity, AZURE_CLIENT_ID/SECRET/TENANT_ID or `az login`",
                ) from None
            raise _http_error(error, where) from None
        except HttpResponseError as error:
            if error.status_code == 200:  # a body the SDK could not decode (not JSON)
                raise _malformed(where, mask_urls(str(error.message))) from None
            raise _http_error(error, where) from None
        except AzureError as error:  # transport: timeouts and connection failures
            raise la_errors.from_exception(error, where=where) from None
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            # The SDK could not take the body (a null `value`, a list instead of an object).
            raise _malformed(where, f"{type(error).__name__}: {error}") from None
        except BadEntry as error:  # a page that never ends, or an entry that is no resource
            raise _malformed(where, str(error)) from None

    def _items(self, subscription: str) -> list[object]:
        """Every entry of every page (the SDK follows nextLink). Raises BadEntry after
        max_pages."""
        pages = self._client(subscription).communication_services.list_by_subscription()
        items: list[object] = []
        for number, page in enumerate(pages.by_page(), start=1):
            if number > self._max_pages:
                raise BadEntry(f"nextLink did not end after {self._max_pages} pages")
            items.extend(page)
        return items


def arm_scopes(endpoint: str) -> list[str]:
    """The token scope for an ARM endpoint: the SDK's own for the clouds it knows (the US
    Government cloud's audience is not its endpoint's host), else ENDPOINT/.default."""
    from azure.core import AzureClouds
    from azure.mgmt.core.tools import get_arm_endpoints

    for cloud in AzureClouds:
        known = get_arm_endpoints(cloud)
        if known["resource_manager"].rstrip("/") == endpoint.rstrip("/").lower():
            return list(known["credential_scopes"])
    return [f"{endpoint.rstrip('/')}/.default"]


def _http_error(error: HttpResponseError, where: str) -> SourceError:
    return from_http_error(
        error,
        where,
        role_hint=READER_HINT,
        not_found=QueryError.BAD_QUERY,
        not_found_hint="check the subscription id in `subscriptions`",
        service="Azure Resource Manager",
    )


def _malformed(where: str, what: str) -> SourceError:
    return SourceError(
        QueryError.SERVER_ERROR,
        f"{where}: malformed answer: {what}; the resources known before are still read "
        "(will retry)",
    )


def _found(item: object, subscription: str, where: str) -> Found:
    raw = dict(item) if isinstance(item, Mapping) else item  # the SDK's models are mappings
    if not isinstance(raw, dict):
        raise BadEntry(f"{where} is not an object ({shorten_repr(raw)})")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind.lower() != ACS_TYPE.lower():
        raise BadEntry(f"{where}: type {shorten_repr(kind)}, expected {ACS_TYPE}")
    resource_id = raw.get("id")
    try:
        if not isinstance(resource_id, str):
            raise ValueError
        check_acs_resource_id(resource_id)
    except ValueError:
        raise BadEntry(
            f"{where}: id {shorten_repr(resource_id)} is not an ACS resource id"
        ) from None
    if subscription_of(resource_id) != subscription.lower():
        raise BadEntry(f"{where}: {resource_id} is not in subscription {subscription}")
    properties = raw.get("properties")
    data_location = properties.get("dataLocation") if isinstance(properties, Mapping) else None
    location = raw.get("location")
    return Found(
        resource_id,
        location if isinstance(location, str) else None,
        data_location if isinstance(data_location, str) else None,
    )
