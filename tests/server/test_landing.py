"""The landing page `/` shows each source's state (up or failing, the last error, the cursor lag,
the last successful poll) with links to the docs, and escapes everything that comes from
outside: a hostile source name or error text is shown as text, never run as markup.
`--web.telemetry-path` moves the metrics, as in node_exporter; the probes stay put."""

from __future__ import annotations

import base64
import os
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import bcrypt
import pytest
import yaml

from acs_exporter.catalog import load_catalog
from acs_exporter.exposition.snapshot import Snapshot
from acs_exporter.pipeline.daemon import Exporter
from acs_exporter.pipeline.source_status import LastError, SourceStatus
from acs_exporter.server.http import ExporterHTTPServer
from conftest import failing_az
from support.daemon_helpers import (
    assert_exited_cleanly,
    free_port,
    killed_if_left_running,
    run_cli,
    start,
    wait_for,
)

HOSTILE = "<img src=x onerror=alert(1)>\"'&amp;"
SCRIPT = '<script>alert("pwned")</script>'
SECRET_URL = "https://scraper:hunter2@proxy.example/token?sig=s3cr3t"
# What the stand-in `az` says: hostile markup and a URL with credentials.
AZ_WORDS = f"ERROR: {SCRIPT} proxy {SECRET_URL} refused the sign-in"
PASSWORD = "landing-pass"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "ul", "li"}
ALLOWED_TAGS |= {"a", "table", "tr", "th", "td", "span", "code"}


class Page(HTMLParser):
    """The tags, the link targets and the text of each table row."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.links: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            if tag == "a" and name == "href" and value is not None:
                self.links.append(value)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def row(self, source: str) -> dict[str, str]:
        header = self.rows[0]
        found = [dict(zip(header, cells, strict=True)) for cells in self.rows[1:]]
        return next(r for r in found if r["source"] == source)


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_hostile_names_and_errors_are_text_not_markup() -> None:
    now = time.time()
    statuses = (
        SourceStatus(HOSTILE, "files", True, now - 5, now - 150, None),
        SourceStatus(
            SCRIPT,
            "log_analytics",
            False,
            None,
            None,
            LastError(f"auth{SCRIPT}", f"{SCRIPT} </td></tr></table>{HOSTILE}", now - 1),
        ),
    )
    server = ExporterHTTPServer(("127.0.0.1", 0), Snapshot, list, statuses=lambda: statuses)
    server.start()
    try:
        status, body = http_get(f"http://127.0.0.1:{server.port}/")
    finally:
        server.shutdown()
        server.server_close()
    assert status == 200
    assert "<script" not in body
    assert "<img" not in body
    page = Page(body)
    assert page.tags <= ALLOWED_TAGS, page.tags - ALLOWED_TAGS
    assert len(page.rows) == 3  # the header and one row per source: no injected rows
    files = page.row(HOSTILE)
    assert files["state"] == "up"
    assert files["cursor lag"] == "2m30s"
    assert files["last successful poll"].endswith("(5s ago)")
    assert files["last error"] == "none"
    failing = page.row(SCRIPT)
    assert failing["state"] == "failing"
    assert failing["last successful poll"] == "never"
    assert failing["cursor lag"] == "unknown"
    assert failing["last error"].startswith(f"auth{SCRIPT} ")
    assert f"{SCRIPT} </td></tr></table>{HOSTILE}" in failing["last error"]
    assert any(link.endswith("loganalytics.md#when-things-go-wrong") for link in page.links)


def test_the_real_process_shows_each_source_masked_and_escaped(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    closed_port = free_port()  # nothing listens: no query is sent without a token anyway
    sources = [
        {"type": "simulator", "name": HOSTILE, "seed": 1},
        {
            "type": "log_analytics",
            "name": SCRIPT,
            "workspace_ids": ["c0ffee00-0000-4000-8000-000000000015"],
            "endpoint": f"https://127.0.0.1:{closed_port}",
            "poll_interval": "1s",
        },
    ]
    config.write_text(yaml.safe_dump({"sources": sources}))
    env = {
        "PATH": f"{failing_az(tmp_path / 'bin', AZ_WORDS)}{os.pathsep}{os.environ.get('PATH', '')}",
        "AZURE_TOKEN_CREDENTIALS": "AzureCliCredential",
    }
    with killed_if_left_running(start(["--config.file", str(config)], tmp_path, env)) as running:

        def both_polled() -> bool:
            try:
                page = running.get("/")[1]
            except OSError:  # not listening yet
                return False
            parsed = Page(page)
            return [parsed.row(HOSTILE)["state"], parsed.row(SCRIPT)["state"]] == ["up", "failing"]

        wait_for(both_polled, "a poll of each source", running)
        status, body = running.get("/")
        assert_exited_cleanly(running, running.stop())
    assert status == 200
    assert "<script" not in body
    assert "hunter2" not in body
    assert "s3cr3t" not in body
    page = Page(body)
    assert page.tags <= ALLOWED_TAGS
    simulator = page.row(HOSTILE)
    assert simulator["state"] == "up"
    assert simulator["cursor lag"].endswith("s")
    assert "ago)" in simulator["last successful poll"]
    la = page.row(SCRIPT)
    assert la["state"] == "failing"
    assert la["last successful poll"] == "never"
    assert la["last error"].startswith("auth ")
    assert SCRIPT in la["last error"]  # shown, as text
    assert "https://***@proxy.example/token?sig=***" in la["last error"]
    assert "what to do" in la["last error"]


def _auth(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()}


def test_telemetry_path_moves_the_metrics_behind_the_same_auth(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  alice: {HASH}\n")
    args = ["--web.telemetry-path", "/acs/metrics", "--web.config.file", str(web)]
    with killed_if_left_running(start(args, tmp_path)) as running:
        running.wait_ready()
        url = running.url
        assert http_get(f"{url}/acs/metrics")[0] == 401
        assert http_get(f"{url}/acs/metrics", _auth("wrong"))[0] == 401
        status, metrics = http_get(f"{url}/acs/metrics", _auth(PASSWORD))
        assert status == 200
        assert "acs_exporter_source_up" in metrics
        status, text = http_get(f"{url}/metrics", _auth(PASSWORD))
        assert (status, text) == (404, "not found; try /acs/metrics\n")
        assert http_get(f"{url}/healthz") == (200, "ok\n")
        assert http_get(f"{url}/readyz") == (200, "ready\n")
        assert http_get(f"{url}/")[0] == 401
        status, landing = http_get(f"{url}/", _auth(PASSWORD))
        assert status == 200
        assert "acs/metrics" in Page(landing).links  # relative: works under a proxy prefix
        log = assert_exited_cleanly(running, running.stop())
    assert '"telemetry_path":"/acs/metrics"' in log


@pytest.mark.parametrize(
    ("source", "given"),
    [
        ({"ACS_EXPORTER_WEB__TELEMETRY_PATH": "/probe"}, None),
        ({}, "/probe"),
    ],
    ids=["environment", "flag"],
)
def test_telemetry_path_from_the_environment_or_the_flag(
    tmp_path: Path, source: dict[str, str], given: str | None
) -> None:
    args = ["--web.telemetry-path", given] if given else []
    port = free_port()
    with killed_if_left_running(start(args, tmp_path, env=source, port=port)) as running:
        running.wait_ready()
        assert http_get(f"{running.url}/probe")[0] == 200
        assert http_get(f"{running.url}/metrics")[0] == 404
        assert_exited_cleanly(running, running.stop())


@pytest.mark.parametrize("path", ["metrics", "/", "/readyz", "/healthz", "/a b", "/m?x=1", "/%41"])
def test_a_telemetry_path_that_cannot_work_is_refused_by_name(path: str) -> None:
    result = run_cli(["check-config", "--web.telemetry-path", path])
    assert result.returncode == 2, result.stdout + result.stderr
    assert "web.telemetry_path" in result.stderr
    assert "--web.telemetry-path" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_source_removed_by_a_reload_leaves_the_page() -> None:
    exporter = Exporter(catalog=load_catalog([]), source_names=["a", "b"])
    exporter.fail_poll("b", "auth", "no token", 0.1)
    assert [s.name for s in exporter.source_statuses()] == ["a", "b"]
    assert exporter.source_statuses()[1].last_error is not None
    exporter.reconfigure(catalog=load_catalog([]), source_names=["a"], max_series=10)
    assert [s.name for s in exporter.source_statuses()] == ["a"]
