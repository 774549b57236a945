"""`acs-exporter explain`: what the catalog expects the service to log for a pair, offline, and
with --exporter how often a running exporter (a real process, over HTTP) saw it disagree."""

from __future__ import annotations

import json
import time
from pathlib import Path

import bcrypt
import pytest
import yaml

from support.daemon_helpers import run_cli, samples, start
from support.ports import free_port

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "files" / "diagnostic.jsonl"


def record(code: str, subcode: str, category: str) -> str:
    data = json.loads(FIXTURE.read_text(encoding="utf-8").splitlines()[0])
    properties = data["properties"]
    properties["participantEndReason"] = code
    properties["participantEndSubCode"] = subcode
    properties["resultCategory"] = category
    return json.dumps(data)


def test_offline_the_catalog_says_what_it_expects_the_service_to_log() -> None:
    result = run_cli(["explain", "487", "10003", "--color", "never"])
    assert result.returncode == 0, result.stderr
    assert "the catalog expects the service to log Success" in result.stdout
    assert "disagrees" not in result.stdout
    logged = run_cli(
        ["explain", "487", "10003", "--service-category", "UnexpectedServerError", "--json"]
    )
    assert json.loads(logged.stdout)["expected_service_category"] == "Success"
    text = run_cli(["explain", "487", "10003", "--service-category", "unexpected server error"])
    assert "the service logged UnexpectedServerError: counted as Success" in text.stdout
    undocumented = run_cli(["explain", "452", "45201", "--json"])
    assert json.loads(undocumented.stdout)["expected_service_category"] is None


def test_with_exporter_it_says_how_often_the_running_exporter_saw_the_pair_disagree(
    tmp_path: Path,
) -> None:
    lines = [record("487", "10003", "UnexpectedServerError")] * 3
    lines += [record("487", "10003", "UnexpectedClientError"), record("487", "10003", "Success")]
    data = tmp_path / "calls.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "log": {"format": "text"},
                "sources": [
                    {"type": "files", "name": "exports", "paths": [str(data)], "progress": False}
                ],
            }
        )
    )
    running = start(["--config.file", str(config)], tmp_path)
    try:
        running.wait_ready()
        deadline = time.monotonic() + 20
        while samples(running.metrics(), "acs_exporter_records_read_total") != {
            (("source", "exports"),): 5.0
        }:
            assert time.monotonic() < deadline, running.log()
            time.sleep(0.2)
        seen = run_cli(["explain", "487", "10003", "--exporter", running.url, "--color", "never"])
        assert seen.returncode == 0, seen.stderr
        assert (
            f"{running.url} counted 487/10003 logged otherwise: 1 as UnexpectedClientError, "
            "3 as UnexpectedServerError"
        ) in " ".join(seen.stdout.split())
        as_json = run_cli(
            ["explain", "487", "10003", "--exporter", running.url + "/metrics", "--json"]
        )
        assert json.loads(as_json.stdout)["seen_disagreeing"] == {
            "UnexpectedClientError": 1.0,
            "UnexpectedServerError": 3.0,
        }
        other = run_cli(["explain", "480", "10037", "--exporter", running.url, "--json"])
        assert json.loads(other.stdout)["seen_disagreeing"] == {}
    finally:
        assert running.stop() == 0


def test_an_unreachable_exporter_is_a_clear_error_without_a_traceback() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli(["explain", "487", "10003", "--exporter", url])
    assert result.returncode == 2
    assert f"--exporter {url}/metrics: cannot connect" in result.stderr
    assert "Traceback" not in result.stderr
    bad = run_cli(["explain", "487", "10003", "--exporter", "file:///etc/passwd"])
    assert bad.returncode == 2
    assert "expected an http:// or https:// URL" in bad.stderr


EXPLAIN_PASSWORD = "ExplainPw7q6w5e"


@pytest.mark.parametrize(
    "url",
    [
        f"http://alice:{EXPLAIN_PASSWORD}@127.0.0.1/metrics",
        f"https://alice:{EXPLAIN_PASSWORD}@exporter.internal/metrics",
        f"http://alice:{EXPLAIN_PASSWORD}#x@127.0.0.1:9/metrics",
    ],
    ids=["no-port", "https-no-port", "hash-in-password"],
)
def test_credentials_of_the_exporter_url_are_never_printed(url: str) -> None:
    """urllib takes no user information: it read `password@host` as a port and raised a
    ValueError quoting it, a traceback whose last line was the password."""
    result = run_cli(["explain", "487", "10003", "--exporter", url])
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "--exporter http" in result.stderr, output
    assert EXPLAIN_PASSWORD not in output, output
    assert "Traceback" not in output, output


def test_credentials_of_the_exporter_url_are_sent_as_basic_auth(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    hashed = bcrypt.hashpw(EXPLAIN_PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    web.write_text(f"basic_auth_users:\n  prometheus: {hashed}\n")
    running = start(["--web.config.file", str(web)], tmp_path)
    try:
        url = f"http://prometheus:{EXPLAIN_PASSWORD}@127.0.0.1:{running.port}"
        deadline = time.monotonic() + 20
        while (result := run_cli(["explain", "487", "10003", "--exporter", url])).returncode:
            assert time.monotonic() < deadline, result.stderr + running.log()
            time.sleep(0.2)
    finally:
        assert running.stop() == 0
    assert f"http://***@127.0.0.1:{running.port} counted no disagreement" in result.stdout
    assert EXPLAIN_PASSWORD not in result.stdout + result.stderr
