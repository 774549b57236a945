"""ACS resource discovery through the real azure-mgmt-communication SDK against the local ARM:
every page, every ARM failure a SourceError with a reason and a hint, every entry that is not
an ACS resource of the subscription a clear error naming it (never a crash, never dropped)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from acs_exporter.sources.azure_metrics.discovery import ArmDiscovery, arm_scopes
from acs_exporter.sources.base import SourceError

from .conftest import ACS1, SUB
from .fake_arm import API_VERSION, FakeArm, Slow, acs_id
from .fake_server import TOKEN, FakeCredential, Fault

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def arm() -> Iterator[FakeArm]:
    with FakeArm(page_size=2) as fake:
        fake.subscription(SUB)
        yield fake


@pytest.fixture
def credential() -> FakeCredential:
    return FakeCredential()


@pytest.fixture
def discovery(arm: FakeArm, credential: FakeCredential) -> Iterator[ArmDiscovery]:
    lister = ArmDiscovery(
        credential, endpoint=arm.url, connection_verify=str(arm.ca_file), timeout=0.3
    )
    yield lister
    lister.close()


def failure(discovery: ArmDiscovery, subscription: str = SUB) -> SourceError:
    with pytest.raises(SourceError) as failed:
        discovery.list_resources(subscription)
    return failed.value


def test_every_page_is_read_with_an_arm_token(
    arm: FakeArm, discovery: ArmDiscovery, credential: FakeCredential
) -> None:
    ids = [acs_id(SUB, f"acs-{i}", group=f"rg-{i % 2}") for i in range(5)]
    for resource in ids:
        arm.add(resource)
    found = discovery.list_resources(SUB)
    assert [f.resource_id for f in found] == ids
    assert {(f.location, f.data_location) for f in found} == {("global", "United States")}
    calls = arm.list_calls()
    assert [c.get("$skipToken") for c in calls] == [None, "2", "4"]  # nextLink followed
    assert {c["api-version"] for c in calls} == {API_VERSION}
    assert {c["path"] for c in calls} == {
        f"/subscriptions/{SUB}/providers/Microsoft.Communication/communicationServices"
    }
    assert set(credential.scopes) == {(f"{arm.url}/.default",)}  # the ARM endpoint's audience


@pytest.mark.parametrize(
    ("endpoint", "scope"),
    [
        ("https://management.azure.com", "https://management.azure.com/.default"),
        ("https://management.azure.com/", "https://management.azure.com/.default"),
        (
            "https://management.usgovcloudapi.net",
            "https://management.core.usgovcloudapi.net/.default",
        ),
        ("https://management.chinacloudapi.cn/", "https://management.chinacloudapi.cn/.default"),
        ("https://arm.private.example:8443", "https://arm.private.example:8443/.default"),
    ],
)
def test_the_token_is_for_the_arm_endpoints_audience(endpoint: str, scope: str) -> None:
    assert arm_scopes(endpoint) == [scope]


def test_a_subscription_without_acs_resources_is_an_empty_answer(discovery: ArmDiscovery) -> None:
    assert discovery.list_resources(SUB) == []


def test_403_is_auth_with_the_role_to_grant(arm: FakeArm, discovery: ArmDiscovery) -> None:
    arm.faults.append(Fault.http(403))
    error = failure(discovery)
    assert error.reason == "auth"
    assert "AuthorizationFailed" in str(error)
    assert "Reader" in str(error)
    assert "communicationServices/read" in str(error)
    assert SUB in str(error)


def test_a_wrong_token_is_auth_and_the_token_is_never_in_the_message(arm: FakeArm) -> None:
    lister = ArmDiscovery(
        FakeCredential("secret-wrong-token"), endpoint=arm.url, connection_verify=str(arm.ca_file)
    )
    try:
        error = failure(lister)
    finally:
        lister.close()
    assert error.reason == "auth"
    assert "secret-wrong-token" not in str(error)
    assert TOKEN not in str(error)


@pytest.mark.parametrize("retry_after", [0.05, None])
def test_429_after_the_sdk_retries_is_throttled_with_retry_after(
    arm: FakeArm, discovery: ArmDiscovery, retry_after: float | None
) -> None:
    arm.add(acs_id(SUB, "acs-one"))
    arm.faults.extend([Fault.throttle(retry_after)] * 3)  # more than the SDK's 2 retries
    error = failure(discovery)
    assert error.reason == "throttled"
    assert "TooManyRequests" in str(error)
    # ARM throttled it, not the metrics API: the message must not send the operator there.
    assert "by Azure Resource Manager (429)" in str(error), str(error)
    if retry_after is not None:
        assert error.retry_after == pytest.approx(retry_after)
    assert [f.resource_id for f in discovery.list_resources(SUB)] == [acs_id(SUB, "acs-one")]


def test_a_long_retry_after_is_not_slept_in_the_poll(arm: FakeArm, discovery: ArmDiscovery) -> None:
    arm.faults.append(Fault.throttle(300))
    started = time.monotonic()
    error = failure(discovery)
    assert time.monotonic() - started < 30  # not 300 s, twice: the source waits for it instead
    assert error.reason == "throttled"
    assert error.retry_after == 300
    assert len(arm.list_calls()) == 1


def test_a_transient_500_is_retried_by_the_sdk(arm: FakeArm, discovery: ArmDiscovery) -> None:
    arm.add(acs_id(SUB, "acs-one"))
    arm.faults.append(Fault.http(500))
    assert len(discovery.list_resources(SUB)) == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.http(500), "server_error"),
        (Fault("reset"), "connection"),
        (Slow(1.0), "timeout"),
    ],
)
def test_lasting_failures_have_their_reason(
    arm: FakeArm, discovery: ArmDiscovery, fault: Fault | Slow, reason: str
) -> None:
    arm.faults.extend([fault] * 3)
    error = failure(discovery)
    assert error.reason == reason
    assert "Azure Monitor" not in str(error), str(error)  # ARM answered (or did not), not it


def test_a_failure_on_a_later_page_fails_the_whole_listing(
    arm: FakeArm, discovery: ArmDiscovery
) -> None:
    for i in range(3):
        arm.add(acs_id(SUB, f"acs-{i}"))
    arm.faults.extend([None, *[Fault.http(403)] * 3])  # the first page answers, the second not
    assert failure(discovery).reason == "auth"


def test_an_unknown_subscription_is_bad_query_naming_it(
    arm: FakeArm, discovery: ArmDiscovery
) -> None:
    other = SUB.replace("a", "c")
    error = failure(discovery, other)
    assert error.reason == "bad_query"
    assert "SubscriptionNotFound" in str(error)
    assert other in str(error)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"id": None}, "entry 1: id None is not an ACS resource id"),
        ({"type": "Microsoft.Communication/EmailServices"}, "entry 1: type 'Microsoft.Com"),
        ({"id": "/subscriptions/x/acs-two"}, "entry 1: id '/subscriptions/x/acs-two' is not"),
        ({"id": acs_id(SUB.replace("a", "d"), "acs-two")}, "is not in subscription"),
    ],
)
def test_a_bad_entry_fails_the_discovery_naming_it(
    arm: FakeArm, discovery: ArmDiscovery, changes: dict[str, object], fragment: str
) -> None:
    arm.add(acs_id(SUB, "acs-one"))
    arm.add(acs_id(SUB, "acs-two"), **changes)
    error = failure(discovery)
    assert error.reason == "server_error"
    assert "malformed answer" in str(error)
    assert fragment in str(error), str(error)


def test_a_next_link_that_never_ends_is_refused_not_followed_for_ever(
    arm: FakeArm, credential: FakeCredential
) -> None:
    for i in range(5):
        arm.add(acs_id(SUB, f"acs-{i}"))
    lister = ArmDiscovery(
        credential, endpoint=arm.url, connection_verify=str(arm.ca_file), max_pages=2
    )
    try:
        error = failure(lister)
    finally:
        lister.close()
    assert error.reason == "server_error"
    assert "nextLink did not end after 2 pages" in str(error)
    assert len(arm.list_calls()) == 3


@pytest.mark.parametrize(
    "payload",
    [b"<html>proxy</html>", b'{"value": null}', b"[1]", b'{"value": [1]}', b'{"value": ["x"]}'],
)
def test_a_body_that_is_not_a_list_answer_is_a_server_error(
    arm: FakeArm, discovery: ArmDiscovery, payload: bytes
) -> None:
    arm.faults.append(Fault("body", payload=payload))
    error = failure(discovery)
    assert error.reason == "server_error"
    assert "malformed answer" in str(error)


def test_the_management_sdk_is_imported_only_by_a_discovery(tmp_path: Path) -> None:
    """A process whose azure_metrics source lists only resource_ids never imports
    azure-mgmt-communication (slow to import); with subscriptions, the first discovery does
    (not even building the source)."""
    program = (
        "import sys\n"
        "from acs_exporter.sources.azure_metrics.settings import AzureMetricsSettings\n"
        "from acs_exporter.sources.azure_metrics.source import AzureMetricsSource\n"
        "from tests.sources.azure_metrics.fake_server import FakeCredential\n"
        "values = dict(type='azure_metrics', region='global', **eval(sys.argv[1]))\n"
        "AzureMetricsSource(AzureMetricsSettings(**values), credential=FakeCredential()).close()\n"
        "print(any(m.startswith('azure.mgmt') for m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}

    def imports_mgmt(settings: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", program, settings],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=True,
        )
        return done.stdout.strip()

    assert imports_mgmt(f"dict(resource_ids=[{ACS1!r}])") == "False"
    assert imports_mgmt(f"dict(subscriptions=[{SUB!r}])") == "False"
