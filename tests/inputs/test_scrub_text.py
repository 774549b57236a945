"""redact.scrub_text and what feeds it (acs_exporter.secrets): the secrets the process holds,
removed from foreign text wherever they appear, and token shapes removed whatever they are."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from acs_exporter import secrets
from acs_exporter.config import Settings
from acs_exporter.inputs import redact
from acs_exporter.inputs.redact import remember_secrets, scrub_text, secrets_in_url
from acs_exporter.logsetup import setup_logging

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    """Each test starts with nothing remembered, and leaves nothing behind."""
    saved = redact._known, redact._remembered
    redact._known, redact._remembered = None, frozenset()
    yield
    redact._known, redact._remembered = saved


def test_a_remembered_secret_is_removed_wherever_it_is_quoted() -> None:
    remember_secrets(["hdrtok-0a1b2c3d"])
    text = "Header format invalid! 'Authorization: Bearer hdrtok-0a1b2c3d' (hdrtok-0a1b2c3d\\n)"
    assert "hdrtok" not in scrub_text(text)


def test_short_strings_are_not_remembered() -> None:
    remember_secrets(["abc", "  "])
    assert scrub_text("abc def") == "abc def"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("rejected Bearer abc.def-123", "rejected Bearer ***"),
        ("token eyJhbGciOi.eyJhdWQiOiJ4In0.c2ln-9_x in a message", "token *** in a message"),
        ('{"accessToken":"opaque-1234","expiresOn":"x"}', '{"accessToken":"***","expiresOn":"x"}'),
        ("AccountName=a;AccountKey=abc/def==;x", "AccountName=a;AccountKey=***;x"),
        ("Authorization: Basic YWxpY2U6cHc=", "Authorization: Basic ***"),
        ("Basic authentication failed", "Basic authentication failed"),
        ("could not get a token: no account", "could not get a token: no account"),
    ],
)
def test_token_shapes_are_removed_unremembered(text: str, shown: str) -> None:
    assert scrub_text(text) == shown


def test_a_proxy_password_with_an_unencoded_hash_is_remembered_as_urllib3_quotes_it() -> None:
    found = secrets_in_url("http://proxyuser:Pw9z8y7x#2024@proxy.internal:3128")
    remember_secrets(found)
    assert "Pw9z8y7x" not in scrub_text("Failed to parse: 'proxyuser:Pw9z8y7x' is not a host")


def test_a_port_is_not_taken_for_a_password() -> None:
    assert secrets_in_url("http://host:8080/a@b/c?x=1") == ["1", "8080/a"]


def test_everything_the_settings_and_environment_hold_is_remembered() -> None:
    settings = Settings.model_validate(
        {
            "otlp": {
                "endpoint": "https://u:otlp-pass@h/v1/metrics?api_key=otlp-query",
                "headers": {"Authorization": "Bearer otlp-header"},
            },
            "state": {
                "backend": "azure_blob",
                "azure_blob": {"container_url": "https://a.blob.core.windows.net/c"},
            },
        }
    )
    environ = {
        "HTTPS_PROXY": "http://user:proxy-pass@p:3128",
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization: Bearer env-header",
        "AZURE_CLIENT_SECRET": "client-secret-value",
        "AZURE_STORAGE_CONNECTION_STRING": (
            f"AccountName=a;AccountKey={KEY};SharedAccessSignature=sv=1&sig=sas-sig"
        ),
    }
    secrets.remember(settings, environ)
    planted = ("otlp-pass", "otlp-query", "otlp-header", "proxy-pass", "env-header")
    text = " ".join((*planted, "client-secret-value", KEY, "sas-sig"))
    assert scrub_text(text) == " ".join(["***"] * 8)


def test_every_log_line_is_scrubbed_third_party_ones_too(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    remember_secrets(["lib-secret-99"])
    setup_logging("json", "info")
    try:
        logging.getLogger("opentelemetry.sdk").warning(
            "header %r invalid", "lib-secret-99", extra={"field": ["lib-secret-99"]}
        )
        try:
            raise ValueError("Bearer lib-secret-99")
        except ValueError:
            logging.getLogger("acs_exporter.x").exception("failed")
    finally:
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["msg"] == "header '***' invalid"
    assert lines[0]["field"] == ["***"]
    assert "lib-secret" not in lines[1]["exception"]


SECRET = "Secr3tPassw0rd"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            f"proxy http://alice:{SECRET}(1)@proxy.internal:3128 refused",
            "proxy http://***@proxy.internal:3128 refused",
        ),
        (
            f"proxy 'http://alice:it's{SECRET}@proxy.internal:3128' refused",
            "proxy 'http://***@proxy.internal:3128' refused",
        ),
        (
            f"upstream https:\\/\\/alice:{SECRET}@proxy.internal:3128\\/x?sig=1 failed",
            "upstream https:\\/\\/***@proxy.internal:3128\\/x?sig=*** failed",
        ),
        ("see (https://docs.example/page) and 'http://h/p'", None),
    ],
    ids=["paren-in-password", "quote-in-password", "json-escaped-slashes", "urls-in-prose"],
)
def test_mask_urls_reads_user_information_that_rfc_3986_allows(
    text: str, shown: str | None
) -> None:
    """' ( ) are legal unencoded in user information: the URL ended before the '@'."""
    assert redact.mask_urls(text) == (text if shown is None else shown)


@pytest.mark.parametrize("unit", ["x", "x.", "a-", "a=", "%", "eyJ", '"a', "Bearer ", "h://"])
def test_scrubbing_a_megabyte_of_any_shape_ends(unit: str) -> None:
    # Every log line and status message is scrubbed, and a server can answer with a megabyte
    # of anything. A pattern that may start anywhere in a run it then reads to the end (a URL
    # scheme inside 'xxxx...') tried every position: 16 kB took 1.2 s, a megabyte hours, with
    # the poll's thread stuck. Not a speed target (bench/ has those): only that it ends.
    text = "denied: " + unit * (1_000_000 // len(unit))
    done = threading.Event()

    def scrub() -> None:
        scrub_text(text)
        done.set()

    threading.Thread(target=scrub, daemon=True).start()
    assert done.wait(20), f"scrubbing a megabyte of {unit!r} did not end within 20 s"
