"""What the service says when a query fails reaches the log line and /readyz whole: the error
code, every inner code (BadArgumentError / SemanticError / SEM0100) and the correlationId Azure
support asks for. And the request carries only what the API documents."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from acs_exporter.sources.base import SourceError
from acs_exporter.sources.loganalytics import errors

from .conftest import Clock, Factory
from .fake_server import FakeLogAnalytics, Fault
from .test_source import RESOURCE, WS, WS2, call

WS3 = "33333333-3333-3333-3333-333333333333"


@pytest.mark.parametrize(
    ("faults", "codes"),
    [
        ([Fault.semantic()], ["BadArgumentError", "SemanticError", "SEM0100", "Failed to resolve"]),
        ([Fault.http(401)], ["AuthenticationFailed"]),
        ([Fault.http(403)], ["InsufficientAccessError", "UnauthorizedClient"]),
        ([Fault.http(504)] * 4, ["GatewayTimeout", "ADX query timed out"]),
        ([Fault.http(500)] * 4, ["InternalServerFault", "Unexpected error occurred"]),
        ([Fault.throttle()], ["TooManyRequests"]),
    ],
    ids=["400-semantic", "401", "403", "504", "500", "429"],
)
def test_the_error_names_every_code_and_the_correlation_id(
    server: FakeLogAnalytics,
    clock: Clock,
    make_source: Factory,
    faults: list[Fault],
    codes: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.add_workspace(WS)
    source = make_source()
    cursor = source.fetch(None).cursor
    server.add_records(WS, "ACSCallSummary", [call(clock.now + timedelta(seconds=1))])
    clock.advance(timedelta(minutes=3))
    server.inject(*faults)
    with pytest.raises(SourceError) as caught:
        source.fetch(cursor)
    message = str(caught.value)
    correlation_id = server.stats.errors[-1]["correlationId"]
    for code in codes:
        assert code in message, message
    assert f"correlationId {correlation_id}" in message, message


def test_unknown_workspace_keeps_the_correlation_id(
    server: FakeLogAnalytics, make_source: Factory
) -> None:
    source = make_source(workspace_ids=["99999999-9999-9999-9999-999999999999"])
    with pytest.raises(SourceError) as caught:
        source.fetch(None)
    assert "PathNotFoundError" in str(caught.value)
    assert server.stats.errors[-1]["correlationId"] in str(caught.value)


def test_partial_error_names_the_engine_codes(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    server.add_workspace(WS)
    source = make_source()
    cursor = source.fetch(None).cursor
    server.add_records(WS, "ACSCallSummary", [call(clock.now + timedelta(seconds=1))] * 4)
    clock.advance(timedelta(minutes=3))
    server.inject(Fault.partial())
    with pytest.raises(SourceError) as caught:
        source.fetch(cursor)
    for code in ("PartialError", "EngineError", "-2133196797", "E_LOW_MEMORY_CONDITION"):
        assert code in str(caught.value)


def test_describe_follows_inner_errors_in_both_spellings_and_details() -> None:
    text = errors.describe_error_object(
        {
            "message": "The request had some invalid properties",
            "code": "BadArgumentError",
            "correlationId": "d215782f-99e5-4f0d-9a9a-aba25c937179",
            "innerError": {
                "code": "SemanticError",
                "message": "A semantic error occurred.",
                "innererror": {"code": "SEM0100", "message": "Failed to resolve 'X'"},
            },
            "details": [{"code": "EngineError", "message": "engine", "innerError": {"code": "E1"}}],
        }
    )
    assert text == (
        "BadArgumentError: The request had some invalid properties / SemanticError: A semantic "
        "error occurred. / SEM0100: Failed to resolve 'X' / EngineError: engine / E1 "
        "(correlationId d215782f-99e5-4f0d-9a9a-aba25c937179)"
    )


def test_requests_carry_only_documented_fields(
    server: FakeLogAnalytics, clock: Clock, make_source: Factory
) -> None:
    """`workspaces` only when there are other workspaces to add: never on a resource-scoped
    query, never as null (the API documents a list of workspace ids)."""
    server.add_workspace(WS)
    server.add_workspace(WS2)
    server.add_workspace(WS3, resource_ids=[RESOURCE])
    make_source(workspace_ids=[WS], resource_ids=[RESOURCE]).fetch(None)
    make_source(workspace_ids=[WS, WS2]).fetch(None)
    by_path: dict[str, list[dict[str, Any]]] = {}
    for path, body in zip(server.stats.paths, server.stats.bodies, strict=True):
        by_path.setdefault(path, []).append(body)
    for body in by_path[f"/v1{RESOURCE}/query"]:
        assert set(body) == {"query", "timespan"}, body
    alone, shared = by_path[f"/v1/workspaces/{WS}/query"]
    assert set(alone) == {"query", "timespan"}, alone
    assert shared["workspaces"] == [WS2]
    for body in server.stats.bodies:
        assert isinstance(body["query"], str)
        assert isinstance(body["timespan"], str)
        assert body["timespan"].count("/") == 1


def test_without_one_in_the_body_the_correlation_id_comes_from_a_header() -> None:
    error = errors.from_status(
        502,
        b"<html>Bad Gateway</html>",
        {"X-Ms-Request-Id": "7d1c0c4e-0000-4000-8000-000000000001"},
        where="workspace w",
    )
    assert error.reason == "server_error"
    assert str(error) == (
        "workspace w: Log Analytics failed (502): <html>Bad Gateway</html> "
        "(correlationId 7d1c0c4e-0000-4000-8000-000000000001)"
    )
    in_body = errors.from_status(
        400,
        b'{"error": {"code": "BadArgumentError", "correlationId": "from-body"}}',
        {"x-ms-request-id": "from-header"},
        where="w",
    )
    assert "(correlationId from-body)" in str(in_body)
    assert "from-header" not in str(in_body)


def test_a_url_in_a_transport_or_proxy_message_loses_its_credentials() -> None:
    """Log Analytics errors go through redact too: whatever a library or a proxy says, a URL in
    it keeps its host and path and loses its user name, password and query values."""
    from azure.core.exceptions import ServiceRequestError

    url = "http://alice:hunter2secret@proxy.example:3128/path?sig=s3cr3tsig&x=1"
    raised = errors.from_exception(ServiceRequestError(f"cannot reach {url}"), where="workspace w")
    assert "hunter2secret" not in str(raised), str(raised)
    assert "s3cr3tsig" not in str(raised), str(raised)
    assert "proxy.example:3128/path" in str(raised)
    page = f"<html>502 Bad Gateway: upstream {url} failed</html>".encode() + b"x" * 500
    text = errors.error_text(page)
    assert "hunter2secret" not in text, text
    assert "s3cr3tsig" not in text, text
    assert text.startswith("<html>502 Bad Gateway"), text
    assert text.endswith("..."), text
    assert len(text) <= 200


def test_a_url_is_masked_before_the_body_is_cut() -> None:
    """A proxy's HTML page naming a credentialed URL across the 200-character cut: cut first,
    the URL lost its '@' and its password's start was shown."""
    prefix = "<html><body>" + "x" * 150 + " upstream "
    body = f"{prefix}https://alice:Secr3tPassw0rd@proxy.internal:3128/ failed</body></html>"
    shown = errors.error_text(body.encode())
    assert "Secr3t" not in shown, shown
    assert shown.startswith("<html><body>xxx"), shown
    assert len(shown) <= 200


def test_a_url_cut_at_the_read_limit_is_not_shown() -> None:
    """Only the first 1024 bytes are read; masking a long URL before them brings what follows
    into the 200 shown, and a URL cut at 1024 has lost its '@': the last word goes."""
    body = (
        "<html> https://h/?q=" + "a" * 970 + " upstream "
        "https://alice:Secr3tPassw0rd@proxy.internal:3128/ failed</html>"
    )
    shown = errors.error_text(body.encode())
    assert "Secr3t" not in shown, shown
    assert "https://h/?q=*** upstream" in shown, shown
