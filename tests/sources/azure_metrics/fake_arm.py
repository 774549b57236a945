"""A local Azure Resource Manager for ACS discovery: HTTPS on 127.0.0.1, the list call the real
azure-mgmt-communication SDK sends and reads (the ARM REST reference, Communication Service -
List By Subscription):

- GET /subscriptions/{id}/providers/Microsoft.Communication/communicationServices
  ?api-version=2025-09-01 with a bearer token;
- 200 `{"value": [resource, ...], "nextLink": URL}` with at most `page_size` resources a page;
  nextLink (absolute, with a `$skipToken`) is followed without a body; the last page has none;
- a resource: `{"id", "name", "type": "Microsoft.Communication/CommunicationServices",
  "location": "global", "tags", "properties": {"provisioningState", "hostName",
  "dataLocation", "immutableResourceId"}}`;
- errors as ARM sends them: `{"error": {"code", "message"}}` (401 InvalidAuthenticationToken,
  403 AuthorizationFailed, 404 SubscriptionNotFound, 429 with or without Retry-After, 5xx);
- faults on demand, request by request (None: answer normally): a status, a connection reset,
  a 200 body as given, a slow answer.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from tests.support.https_fake import HttpsFake

from .fake_server import TOKEN, Fault, Reply, error_reply, fault_reply, make_handler

PROVIDER = "providers/Microsoft.Communication/communicationServices"
API_VERSION = "2025-09-01"


def acs_id(subscription: str, name: str, group: str = "rg") -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}/{PROVIDER}/{name}"


def acs_resource(resource_id: str, *, data_location: str = "United States") -> dict[str, Any]:
    name = resource_id.rsplit("/", 1)[-1]
    return {
        "id": resource_id,
        "name": name,
        "type": "Microsoft.Communication/CommunicationServices",
        "location": "global",
        "tags": {},
        "properties": {
            "provisioningState": "Succeeded",
            "hostName": f"{name}.unitedstates.communication.azure.com",
            "dataLocation": data_location,
            "immutableResourceId": "11111111-2222-4333-8444-555555555555",
        },
    }


@dataclass(frozen=True)
class Slow:
    """Answer normally, `seconds` late (a read timeout on the client's side)."""

    seconds: float


@dataclass
class ArmStats:
    calls: list[dict[str, str]] = field(default_factory=list)  # path + query of each request
    faults: int = 0  # requests answered with a fault (a slow answer is not one)
    internal_errors: list[str] = field(default_factory=list)


class FakeArm(HttpsFake):
    name = "fake-arm"

    def __init__(self, *, token: str = TOKEN, page_size: int = 2) -> None:
        super().__init__()
        self.token = token
        self.page_size = page_size
        self.stats = ArmStats()
        self.faults: deque[Fault | Slow | None] = deque()
        # subscription (lower case) -> its communicationServices entries, as ARM lists them
        self.resources: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def add(self, resource_id: str, **changes: Any) -> dict[str, Any]:
        """A resource appears (`changes` overwrite fields of its entry, for bad entries)."""
        entry = {**acs_resource(resource_id), **changes}
        subscription = resource_id.split("/")[2].lower()
        with self._lock:
            self.resources.setdefault(subscription, []).append(entry)
        return entry

    def remove(self, resource_id: str) -> None:
        with self._lock:
            for entries in self.resources.values():
                entries[:] = [e for e in entries if str(e.get("id")).lower() != resource_id.lower()]

    def subscription(self, subscription: str) -> None:
        """A subscription with no ACS resource (one not listed at all answers 404)."""
        with self._lock:
            self.resources.setdefault(subscription.lower(), [])

    def list_calls(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self.stats.calls)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return make_handler(self)

    def handle(self, target: str, headers: Mapping[str, str], raw: bytes) -> Reply:
        """A request whose bearer token is right (make_handler checks it)."""
        url = urlsplit(target)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = url.path.split("/")
        with self._lock:
            self.stats.calls.append({"path": url.path, **params})
            fault = self.faults.popleft() if self.faults else None
            self.stats.faults += isinstance(fault, Fault)
        if isinstance(fault, Slow):
            time.sleep(fault.seconds)
        elif fault is not None:
            return _fault_reply(fault)
        if (
            len(parts) != 6
            or parts[1] != "subscriptions"
            or "/".join(parts[3:]).lower() != (PROVIDER.lower())
        ):
            return error_reply(404, "InvalidResourceType", f"no such path {url.path}")
        if params.get("api-version") != API_VERSION:
            return error_reply(400, "InvalidApiVersionParameter", "unsupported api-version")
        return self._page(parts[2], target, params)

    def _page(self, subscription: str, target: str, params: Mapping[str, str]) -> Reply:
        with self._lock:
            entries = self.resources.get(subscription.lower())
            entries = None if entries is None else list(entries)
        if entries is None:
            return error_reply(
                404,
                "SubscriptionNotFound",
                f"The subscription '{subscription}' could not be found.",
            )
        start = int(params.get("$skipToken", "0"))
        page: dict[str, Any] = {"value": entries[start : start + self.page_size]}
        if start + self.page_size < len(entries):
            path = urlsplit(target).path
            page["nextLink"] = (
                f"{self.url}{path}?api-version={API_VERSION}&$skipToken={start + self.page_size}"
            )
        return Reply(200, orjson.dumps(page), {"Content-Type": "application/json"})


def _fault_reply(fault: Fault) -> Reply:
    if fault.status == 403:  # ARM's words, naming the action the role lacks
        return error_reply(
            403,
            "AuthorizationFailed",
            "The client 'abc' with object id 'abc' does not have authorization to perform "
            "action 'Microsoft.Communication/communicationServices/read' over scope "
            "'/subscriptions/x' or the scope is invalid.",
        )
    return fault_reply(fault)
