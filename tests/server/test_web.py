"""HTTP serving: TLS and basic auth from an exporter-toolkit web config, endpoints, errors."""

from __future__ import annotations

import base64
import gzip
import http.client
import socket
import ssl
import time
from pathlib import Path

import bcrypt
import pytest
import trustme

from acs_exporter.exposition.snapshot import Snapshot
from acs_exporter.server.http import ExporterHTTPServer
from acs_exporter.server.webconfig import BasicAuth, WebConfigError, load_web_config
from support.daemon_helpers import run_cli, start

PASSWORD = "s3cret-scrape"
# A fixed salt: test ids below embed the hash, and pytest-xdist workers must collect the same ids.
HASH = bcrypt.hashpw(PASSWORD.encode(), b"$2b$04$j7hnDoWPVcbIWJOexX1Hoe").decode()
LOW_COST = "$2b$03$" + HASH[7:]
HIGH_COST = "$2b$32$" + HASH[7:]
BAD_SALT = HASH[:28] + "z" + HASH[29:]  # the salt's last character carries only 2 bits
BAD_ALPHABET = HASH[:-1] + "!"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_web_config(tmp_path: Path, ca: trustme.CA) -> Path:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    config = tmp_path / "web.yml"
    config.write_text(
        "tls_server_config:\n"
        "  cert_file: server.pem\n"  # relative to the web config file, as in exporter-toolkit
        "  key_file: server.key\n"
        "basic_auth_users:\n"
        f"  prometheus: {HASH}\n"
    )
    return config


def auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def https_get(
    port: int, path: str, context: ssl.SSLContext, headers: dict[str, str] | None = None
) -> tuple[int, str, dict[str, str]]:
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode(), dict(response.getheaders())
    finally:
        connection.close()


def plain_http(port: int) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_tls_and_basic_auth_on_the_real_process(
    tmp_path: Path, tls_web_config: Path, ca: trustme.CA
) -> None:
    running = start(["--web.config.file", str(tls_web_config)], tmp_path)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    try:
        # The process is up once /readyz answers over TLS (probes need no credentials).
        deadline = time.monotonic() + 20
        while True:
            try:
                status, _body, _ = https_get(running.port, "/readyz", client)
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, running.log()
            time.sleep(0.1)
        missing = https_get(running.port, "/metrics", client)
        wrong = https_get(running.port, "/metrics", client, auth("prometheus", "nope"))
        unknown_user = https_get(running.port, "/metrics", client, auth("mallory", PASSWORD))
        garbage = https_get(running.port, "/metrics", client, {"Authorization": "Basic %%%"})
        landing = https_get(running.port, "/", client)
        good = https_get(running.port, "/metrics", client, auth("prometheus", PASSWORD))
        again = https_get(running.port, "/metrics", client, auth("prometheus", PASSWORD))
        # Plain HTTP to a TLS port gets the 400 Go exporters answer, and no metrics.
        assert plain_http(running.port) == (
            400,
            b"Client sent an HTTP request to an HTTPS server.\n",
        )
    finally:
        assert running.stop() == 0, running.log()
    for response in (missing, wrong, unknown_user, garbage, landing):
        assert response[0] == 401
        assert response[2]["WWW-Authenticate"].startswith("Basic realm=")
    assert good[0] == 200
    assert "acs_exporter_build_info" in good[1]
    assert again[0] == 200
    log = running.log()
    assert PASSWORD not in log
    assert HASH not in log
    assert "https://" in log


def test_basic_auth_without_tls_and_open_probes(tmp_path: Path) -> None:
    config = tmp_path / "web.yml"
    config.write_text(f"basic_auth_users:\n  alice: {HASH}\n")
    server = ExporterHTTPServer(
        ("127.0.0.1", 0),
        Snapshot,
        lambda: ["source x: no successful poll yet"],
        load_web_config(config),
    )
    server.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)

        def get(
            path: str, headers: dict[str, str] | None = None
        ) -> tuple[int, bytes, dict[str, str]]:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read(), dict(response.getheaders())

        assert get("/metrics")[0] == 401
        assert get("/metrics", auth("alice", "wrong"))[0] == 401
        assert get("/metrics", auth("alice", PASSWORD))[0] == 200
        status, body, headers = get(
            "/metrics", {**auth("alice", PASSWORD), "Accept-Encoding": "gzip"}
        )
        assert status == 200
        assert headers["Content-Encoding"] == "gzip"
        gzip.decompress(body)
        openmetrics = get(
            "/metrics", {**auth("alice", PASSWORD), "Accept": "application/openmetrics-text"}
        )
        assert openmetrics[2]["Content-Type"].startswith("application/openmetrics-text")
        assert openmetrics[1].endswith(b"# EOF\n")
        assert get("/healthz")[:2] == (200, b"ok\n")
        status, body, _ = get("/readyz")
        assert status == 503
        assert b"source x: no successful poll yet" in body
        assert get("/nope")[0] == 404
        connection.close()
    finally:
        server.shutdown()
        server.server_close()


def test_basic_auth_remembers_success_but_never_a_failure() -> None:
    checker = BasicAuth({"alice": HASH})
    assert checker.check("alice", PASSWORD)
    assert checker.check("alice", PASSWORD)
    assert not checker.check("alice", PASSWORD + "x")
    assert not checker.check("bob", PASSWORD)
    assert not BasicAuth({}).enabled


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("basic_auth_users: [", "web.yml:1: invalid YAML"),
        # the same bounded loader as the main config: no alias bomb, no duplicate keys
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                for n, p in zip("bcdefgh", "abcdefg", strict=True)
            ),
            "more than",
        ),
        ("basic_auth_users:\n  alice: x\n  alice: y\n", "duplicate key 'alice'"),
        ("tls_server_config:\n" * 1 + "  " * 0 + "x: " + "[" * 40 + "]" * 40 + "\n", "deeper"),
        ("- a\n- b\n", "expected a mapping"),
        ("tls_server_config:\n  cert_file: a.pem\n", "tls_server_config.key_file: Field required"),
        ("basic_auth_users:\n  alice: plaintext\n", "must be a bcrypt hash"),
        ("tls_config: {}\n", "tls_config: unknown or unsupported key"),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [X25519]\n",
            "tls_server_config.curve_preferences: unknown or unsupported key",
        ),
        (
            "tls_server_config:\n  cert_file: none.pem\n  key_file: none.key\n",
            "cannot load tls_server_config cert_file",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n",
            "client_auth_type",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n"
            "  client_auth_type: RequireAndVerifyClientCert\n",
            "needs client_ca_file",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n"
            "  min_version: TLS13\n  max_version: TLS12\n",
            "min_version TLS13 is above max_version TLS12",
        ),
        (f"basic_auth_users:\n  alice: {LOW_COST}\n", "user 'alice' has cost 3, outside 4..31"),
        (f"basic_auth_users:\n  alice: {HIGH_COST}\n", "user 'alice' has cost 32, outside 4..31"),
        (f"basic_auth_users:\n  alice: {BAD_SALT}\n", "user 'alice' has a malformed salt"),
        (f"basic_auth_users:\n  alice: {BAD_ALPHABET}\n", "user 'alice' must be a bcrypt hash"),
        (
            'http_server_config:\n  headers:\n    X-A: "a\\r\\nSet-Cookie: b"\n',
            "the value of header 'X-A' has a control character",
        ),
        (
            "http_server_config:\n  headers:\n    content-type: text/html\n",
            "header 'content-type' is set by the server",
        ),
        ("http_server_config:\n  headers:\n    X A: b\n", "header name 'X A' is not"),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_X]\n",
            "tls_server_config.cipher_suites: unknown cipher suite(s) 'TLS_X'",
        ),
        # the main config's checks: a NUL (which open() would raise ValueError on) and an
        # empty path (which pathlib reads as the directory)
        (
            'tls_server_config:\n  cert_file: "a\\0.pem"\n  key_file: b\n',
            "web.yml:2: tls_server_config.cert_file: a NUL character is not allowed here",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n"
            '  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: "ca\\0.pem"\n',
            "web.yml:5: tls_server_config.client_ca_file: a NUL character is not allowed here",
        ),
        (
            'tls_server_config:\n  cert_file: ""\n  key_file: b\n',
            "web.yml:2: tls_server_config.cert_file = '': expected a file path, got an empty one",
        ),
    ],
)
def test_bad_web_config_is_named(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(content)
    with pytest.raises(WebConfigError) as error:
        load_web_config(path)
    assert expected in str(error.value)
    assert str(path) in str(error.value)
    assert "plaintext" not in str(error.value)
    for secret in (LOW_COST, HIGH_COST, BAD_SALT, BAD_ALPHABET):
        assert secret[7:] not in str(error.value)


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_nul_in_a_tls_path_is_a_clear_error_of_the_real_process(
    tmp_path: Path, command: str
) -> None:
    web = tmp_path / "web.yml"
    web.write_text('tls_server_config:\n  cert_file: "cert\\0.pem"\n  key_file: key.pem\n')
    args = [command, "--web.config.file", str(web), "--web.listen-address", "127.0.0.1:0"]
    result = run_cli(args, env={"ACS_EXPORTER_STATE__PATH": str(tmp_path / "state.json")})
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 1, result.stderr[-2000:]
    assert "invalid web config (1 problem):" in result.stderr.splitlines()[0]
    assert f"{web}:2: tls_server_config.cert_file: a NUL character" in result.stderr


def test_tls_files_that_cannot_serve_are_refused_at_load(tmp_path: Path, ca: trustme.CA) -> None:
    one, other = ca.issue_cert("127.0.0.1"), ca.issue_cert("127.0.0.1")
    one.cert_chain_pems[0].write_to_path(str(tmp_path / "one.crt"))
    other.private_key_pem.write_to_path(str(tmp_path / "other.key"))
    mismatch = tmp_path / "mismatch.yml"
    mismatch.write_text("tls_server_config:\n  cert_file: one.crt\n  key_file: other.key\n")
    with pytest.raises(WebConfigError, match="cannot load tls_server_config cert_file"):
        load_web_config(mismatch)
    one.private_key_pem.write_to_path(str(tmp_path / "one.key"))
    no_ca = tmp_path / "no-ca.yml"
    no_ca.write_text(
        "tls_server_config:\n  cert_file: one.crt\n  key_file: one.key\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: absent-ca.pem\n"
    )
    with pytest.raises(WebConfigError, match=r"cannot load client_ca_file .*absent-ca\.pem"):
        load_web_config(no_ca)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n"
            "  min_version: TLS13\n  max_version: TLS12\n",
            "min_version TLS13 is above max_version TLS12",
        ),
        (f"basic_auth_users:\n  alice: {HIGH_COST}\n", "has cost 32, outside 4..31"),
    ],
)
def test_check_config_refuses_what_run_refuses(tmp_path: Path, content: str, expected: str) -> None:
    """Both call load_web_config: the same file gets the same message and exit status 1."""
    path = tmp_path / "web.yml"
    path.write_text(content)
    checked = run_cli(["check-config", "--web.config.file", str(path)])
    assert checked.returncode == 1
    assert expected in checked.stderr
    running = start(["--web.config.file", str(path)], tmp_path)
    assert running.process.wait(30) == 1
    assert expected in running.log()
    assert "Traceback" not in checked.stderr + running.log()
    assert HIGH_COST[7:] not in checked.stderr + running.log()


def test_missing_web_config_file_stops_run_and_check_config(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yml"
    result = run_cli(["check-config", "--web.config.file", str(missing)])
    assert result.returncode == 1
    assert f"invalid web config (1 problem):\n  {missing}: cannot read it" in result.stderr
    running = start(["--web.config.file", str(missing)], tmp_path)
    assert running.process.wait(30) == 1
    assert "cannot read it" in running.log()
    assert "Traceback" not in running.log()


def test_mutual_tls_requires_a_client_certificate_from_the_ca(
    tmp_path: Path, ca: trustme.CA
) -> None:
    server_cert = ca.issue_cert("127.0.0.1")
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "clients-ca.pem"))
    config = tmp_path / "web.yml"
    config.write_text(
        "tls_server_config:\n"
        "  cert_file: server.pem\n"
        "  key_file: server.pem\n"
        "  client_auth_type: RequireAndVerifyClientCert\n"
        "  client_ca_file: clients-ca.pem\n"
        "  min_version: TLS13\n"
    )
    server = ExporterHTTPServer(("127.0.0.1", 0), Snapshot, list, load_web_config(config))
    server.start()
    try:
        anonymous = ssl.create_default_context()
        ca.configure_trust(anonymous)
        with pytest.raises((ssl.SSLError, OSError, http.client.HTTPException)):
            https_get(server.port, "/metrics", anonymous)
        client = ssl.create_default_context()
        ca.configure_trust(client)
        ca.issue_cert("prometheus@example.test").configure_cert(client)
        assert https_get(server.port, "/metrics", client)[0] == 200
        stranger_ca = trustme.CA()
        stranger = ssl.create_default_context()
        ca.configure_trust(stranger)
        stranger_ca.issue_cert("mallory@example.test").configure_cert(stranger)
        with pytest.raises((ssl.SSLError, OSError, http.client.HTTPException)):
            https_get(server.port, "/metrics", stranger)
    finally:
        server.shutdown()
        server.server_close()


def test_check_config_summarises_the_web_config_without_secrets(tls_web_config: Path) -> None:
    result = run_cli(["check-config", "--web.config.file", str(tls_web_config)])
    assert result.returncode == 0, result.stderr
    assert f"# web config {tls_web_config}: TLS on, basic auth users: 1" in result.stdout
    assert HASH not in result.stdout + result.stderr


def test_tls_context_is_built_once_at_load(tls_web_config: Path, ca: trustme.CA) -> None:
    """load_web_config builds the TLS context to fail early; the server uses that one (the
    key file is not read again: removing it after loading changes nothing)."""
    web_config = load_web_config(tls_web_config)
    (tls_web_config.parent / "server.key").unlink()
    server = ExporterHTTPServer(("127.0.0.1", 0), Snapshot, list, web_config)
    server.start()
    try:
        client = ssl.create_default_context()
        ca.configure_trust(client)
        status, _, _ = https_get(server.port, "/metrics", client, auth("prometheus", PASSWORD))
        assert status == 200
    finally:
        server.shutdown()
        server.server_close()


def test_cipher_suites_take_go_names_and_limit_tls12(tmp_path: Path, ca: trustme.CA) -> None:
    cert = ca.issue_cert("127.0.0.1")  # an ECDSA key
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    config = tmp_path / "web.yml"
    config.write_text(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.pem\n"
        "  max_version: TLS12\n"
        "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256]\n"
    )
    server = ExporterHTTPServer(("127.0.0.1", 0), Snapshot, list, load_web_config(config))
    server.start()
    try:
        client = ssl.create_default_context()
        ca.configure_trust(client)
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
            client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            negotiated = tls.cipher()
            assert negotiated is not None
            assert negotiated[0] == "ECDHE-ECDSA-AES256-GCM-SHA384"
        other = ssl.create_default_context()
        ca.configure_trust(other)
        other.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
        with pytest.raises((ssl.SSLError, OSError, http.client.HTTPException)):
            https_get(server.port, "/metrics", other)
    finally:
        server.shutdown()
        server.server_close()


SCRAPE_KEY = "scrapekey-1f2e3d4c5b6a"


def test_a_scrapers_query_string_is_never_logged(tmp_path: Path) -> None:
    """A scrape config sending an API key as a URL parameter (Prometheus `params:`, here under
    a name no pattern knows): the `unauthorised request` line (info) and every request line
    (debug) logged the path whole."""
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  alice: {HASH}\n")
    running = start(["--web.config.file", str(web), "--log.level", "debug"], tmp_path)
    try:
        running.wait_ready()
        assert running.get(f"/metrics?k={SCRAPE_KEY}")[0] == 401
        status, _ = running.get(f"/metrics?k={SCRAPE_KEY}", auth("alice", PASSWORD))
        assert status == 200
        deadline = time.monotonic() + 5
        while running.log().count("/metrics?k=***") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        running.stop()
    log = running.log()
    assert '"path":"/metrics?k=***"' in log, log  # the unauthorised request, masked
    assert log.count("/metrics?k=***") >= 3, log  # and both request lines
    assert SCRAPE_KEY not in log, [line for line in log.splitlines() if SCRAPE_KEY in line]
