"""Signals on the real process: SIGTERM/SIGINT shut down within the grace period with exit 0
and a checkpoint that holds exactly what was counted; a second signal only hurries that.

The long poll is a real Log Analytics query (the real Azure SDK) against the local fake server,
held by an injected delay well past the grace period.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from conftest import require_path, require_tool
from support.daemon_helpers import (
    Running,
    assert_exited_cleanly,
    killed_if_left_running,
    log_analytics_config,
    samples,
    start,
    wait_for,
)

pytestmark = pytest.mark.e2e

WRAPPER = Path(__file__).resolve().parents[1] / "support" / "exporter_main.py"
WS = "11111111-1111-1111-1111-111111111111"
GRACE = 2.0
# SIGTERM to exit may take the grace plus process teardown on a loaded 2-core machine.
MARGIN = 8.0
HELD = 60.0  # how long the fake server holds the slow query: far past GRACE + MARGIN


def start_wrapped(
    args: Sequence[str], tmp_path: Path, env: Mapping[str, str] | None = None
) -> Running:
    """The exporter through exporter_main.py, with a GRACE-second shutdown grace unless `env`
    says otherwise."""
    environment = {"TEST_SHUTDOWN_GRACE_SECONDS": str(GRACE), **(env or {})}
    return start(args, tmp_path, environment, command=[sys.executable, str(WRAPPER)])


def counted(running: Running, source: str) -> float:
    try:
        text = running.metrics()
    except OSError:
        return -1.0
    return samples(text, "acs_exporter_records_read_total").get((("source", source),), 0.0)


def timed_stop(
    running: Running, *signals: signal.Signals, timeout: float = 60
) -> tuple[int, float]:
    began = time.monotonic()
    for sig in signals:
        running.process.send_signal(sig)
        time.sleep(0.1)
    code = running.process.wait(timeout)
    return code, time.monotonic() - began


def log_entries(running: Running) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in running.log().splitlines() if line.startswith("{")]


# --- Log Analytics, a poll held past the grace period -----------------------------------------


@pytest.fixture(scope="module")
def fake_la() -> Iterator[Any]:
    require_tool("node")
    from sources.loganalytics.fake_server import FakeLogAnalytics
    from sources.loganalytics.kusto import PACKAGE, KustoChecker

    require_path(PACKAGE, "@kusto/language-service-next (run `make test`, which runs npm ci)")
    checker = KustoChecker()
    with FakeLogAnalytics(checker) as server:
        server.add_workspace(WS)
        yield server
    checker.close()


def la_records(count: int, ingested: datetime) -> list[dict[str, Any]]:
    return [
        {
            "TimeGenerated": ingested - timedelta(minutes=1),
            "ParticipantEndReason": "0",
            "ParticipantEndSubCode": "0",
            "ResultCategory": "Success",
            "CallType": "Group",
            "EndpointType": "VoIP",
            "ParticipantType": "ACS",
            "CorrelationId": f"call-{ingested.timestamp()}-{i}",
            "_IngestedAt": ingested,
        }
        for i in range(count)
    ]


def la_config(tmp_path: Path, server: Any, state: Path) -> Path:
    config = log_analytics_config(
        server, WS, state, safety_lag="1s", initial_lookback="1h", server_timeout="2m"
    )
    path = tmp_path / "la.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    ("signals", "grace"),
    [
        pytest.param(("SIGTERM",), GRACE, id="term"),
        pytest.param(("SIGINT",), GRACE, id="int"),
        # A second signal stops the wait for the held poll: exit long before a 30 s grace.
        pytest.param(("SIGTERM", "SIGTERM"), 30.0, id="term-term"),
        pytest.param(("SIGINT", "SIGTERM"), 30.0, id="int-term"),
        # SIGHUP during the shutdown is not a reload, nor a second stop, nor fatal.
        pytest.param(("SIGTERM", "SIGHUP"), GRACE, id="term-hup"),
    ],
)
def test_stop_during_a_poll_longer_than_the_grace_exits_0_in_time_with_the_counts_saved(
    tmp_path: Path, fake_la: Any, signals: tuple[str, ...], grace: float
) -> None:
    from sources.loganalytics.fake_server import TOKEN, Fault

    fake_la.faults.clear()
    now = datetime.now(UTC)
    before = la_records(5, now - timedelta(minutes=10))
    fake_la.add_records(WS, "ACSCallSummary", before)
    state = tmp_path / "state" / "checkpoint.json"
    config = la_config(tmp_path, fake_la, state)
    env = {"TEST_FAKE_LA_TOKEN": TOKEN, "TEST_SHUTDOWN_GRACE_SECONDS": str(grace)}
    first = start_wrapped(["--config.file", str(config)], tmp_path, env)
    with killed_if_left_running(first):
        wait_for(lambda: counted(first, "la") >= 5, "the first poll", first)
        already = counted(first, "la")  # this test's 5, plus earlier tests' records
        fake_la.inject(*[Fault.slow(HELD)] * 3)
        in_flight_before = fake_la.stats.requests
        wait_for(lambda: fake_la.stats.requests > in_flight_before, "a held query", first)
        time.sleep(0.3)  # the query is being held by the server now
        code, took = timed_stop(first, *(signal.Signals[s] for s in signals))
    log = assert_exited_cleanly(first, code)
    limit = grace + MARGIN if len(signals) == 1 else MARGIN
    assert took < limit, f"took {took:.1f}s: {log}"
    entries = log_entries(first)
    assert any(e["msg"].startswith("abandoning a poll") for e in entries), log
    assert entries[-1]["msg"] == "stopped", log

    # The checkpoint holds what was counted: the restart continues from it, exactly.
    fake_la.faults.clear()
    later = la_records(3, datetime.now(UTC))
    fake_la.add_records(WS, "ACSCallSummary", later)
    second = start_wrapped(["--config.file", str(config)], tmp_path, env)
    try:
        wait_for(lambda: counted(second, "la") >= already, "the restart", second)
        assert counted(second, "la") in (already, already + 3)  # not yet polled, or polled
        wait_for(lambda: counted(second, "la") >= already + 3, "the later records", second)
        time.sleep(1.5)  # more polls: nothing is counted twice
        assert counted(second, "la") == already + 3
    finally:
        assert second.stop() == 0, second.log()


# --- a CPU-heavy parse in the poll thread --------------------------------------------------------

LINE = (
    b'{"category":"CallSummary","properties":{"participantEndReason":"%d",'
    b'"participantEndSubCode":"%d"}}\n'
)


def test_sigterm_during_a_big_parse_exits_promptly_and_the_restart_counts_each_record_once(
    tmp_path: Path,
) -> None:
    """The poll thread parses one huge batch (seconds of CPU, holding the interpreter lock
    whenever it can). SIGTERM must not wait for it, or for the grace period: the parse stops at
    its next check, the part read is counted with a cursor after it, and the process exits."""
    chunk = b"".join(LINE % (code, code % 7) for code in range(1000))
    lines = 1000 * 1500
    export = tmp_path / "calls.jsonl"
    export.write_bytes(chunk * 1500)
    state = tmp_path / "state" / "checkpoint.json"
    config = tmp_path / "files.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state": {"path": str(state)},
                "sources": [
                    {
                        "type": "files",
                        "name": "exports",
                        "paths": [str(export)],
                        "poll_interval": "1s",
                        "batch_records": min(10 * lines, 10_000_000),  # one poll: the whole file
                        "progress": False,
                    }
                ],
            }
        )
    )
    # The real grace period (10 s): exiting promptly must not come from a short grace.
    first = start_wrapped(
        ["--config.file", str(config)], tmp_path, env={"TEST_SHUTDOWN_GRACE_SECONDS": ""}
    )
    with killed_if_left_running(first):
        wait_for(lambda: counted(first, "exports") == 0, "the HTTP server", first)
        time.sleep(1.0)  # the parse is under way (it takes far longer than this)
        assert counted(first, "exports") == 0, "the whole file was parsed already"
        code, took = timed_stop(first, signal.SIGTERM)
    log = assert_exited_cleanly(first, code)
    assert took < 4.0, f"SIGTERM to exit took {took:.1f}s: {log}"

    second = start_wrapped(["--config.file", str(config)], tmp_path)
    try:
        wait_for(lambda: counted(second, "exports") >= lines, "the rest", second, timeout=180)
        time.sleep(1.5)  # further polls find nothing new
        assert counted(second, "exports") == lines
    finally:
        assert second.stop() == 0, second.log()


# --- before the first poll ----------------------------------------------------------------------


def handles(pid: int, sig: signal.Signals) -> bool:
    """Whether the process has a handler for `sig` (SigCgt in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) >> (sig - 1) & 1)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_start_up_is_handled(tmp_path: Path, sig: signal.Signals) -> None:
    """Sent as soon as the handlers are in place, while the catalog and sources still load:
    SIGTERM is a clean stop (exit 0, nothing polled, no traceback), SIGHUP a reload."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc")
    running = start_wrapped([], tmp_path)
    with killed_if_left_running(running):
        deadline = time.monotonic() + 60
        while not handles(running.process.pid, signal.SIGTERM):
            assert running.process.poll() is None, running.log()
            assert time.monotonic() < deadline, running.log()
            time.sleep(0.002)
        running.process.send_signal(sig)
        if sig == signal.SIGHUP:
            running.wait_ready()
            wait_for(
                lambda: any(e["msg"] == "configuration reloaded" for e in log_entries(running)),
                "the reload",
                running,
            )
            code, _ = timed_stop(running, signal.SIGTERM)
        else:
            code = running.process.wait(60)
    assert_exited_cleanly(running, code)
    assert log_entries(running)[-1] == {
        **log_entries(running)[-1],
        "msg": "stopped",
        "signal": "SIGTERM",
    }


def test_sigterm_while_the_first_poll_is_held_loses_nothing(tmp_path: Path, fake_la: Any) -> None:
    from sources.loganalytics.fake_server import TOKEN, Fault

    fake_la.faults.clear()
    fake_la.add_records(
        WS, "ACSCallSummary", la_records(4, datetime.now(UTC) - timedelta(minutes=10))
    )
    state = tmp_path / "checkpoint.json"
    config = la_config(tmp_path, fake_la, state)
    env = {"TEST_FAKE_LA_TOKEN": TOKEN}
    fake_la.inject(*[Fault.slow(HELD)] * 3)
    requests = fake_la.stats.requests
    first = start_wrapped(["--config.file", str(config)], tmp_path, env)
    with killed_if_left_running(first):
        wait_for(lambda: fake_la.stats.requests > requests, "the first query", first)
        time.sleep(0.3)
        code, took = timed_stop(first, signal.SIGTERM)
    log = assert_exited_cleanly(first, code)
    assert took < GRACE + MARGIN, log
    # Nothing was counted, so the restart starts where the first would have: at its initial
    # lookback, counting every record in the workspace (this module's earlier records too).
    fake_la.faults.clear()
    expected = fake_la.execute([WS], "ACSCallSummary | count", None)[0]["tables"][0]["rows"][0][0]
    second = start_wrapped(["--config.file", str(config)], tmp_path, env)
    try:
        wait_for(lambda: counted(second, "la") == expected, "every record", second)
    finally:
        assert second.stop() == 0, second.log()


# --- an OTLP collector that never answers -------------------------------------------------------


def test_sigterm_with_an_otlp_collector_that_never_answers_exits_within_the_grace(
    tmp_path: Path,
) -> None:
    """The final OTLP push is bounded by otlp.timeout (10 s), more than the grace period: it
    gets what is left of the grace, and the process exits 0 with the checkpoint saved."""
    import socket
    import threading

    held: list[socket.socket] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    done = threading.Event()

    def accept_and_hold() -> None:  # read nothing, answer nothing
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            held.append(connection)

    threading.Thread(target=accept_and_hold, daemon=True).start()
    state = tmp_path / "checkpoint.json"
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}/v1/metrics"
    env = {
        "ACS_EXPORTER_OTLP__ENABLED": "true",
        "ACS_EXPORTER_OTLP__ENDPOINT": endpoint,
        "ACS_EXPORTER_OTLP__INTERVAL": "300ms",
        "ACS_EXPORTER_STATE__PATH": str(state),
    }
    running = start_wrapped([], tmp_path, env)
    try:
        running.wait_ready()
        wait_for(lambda: len(held) >= 1, "a push to the silent collector", running)
        code, took = timed_stop(running, signal.SIGTERM)
    finally:
        done.set()
        if running.process.poll() is None:
            running.process.kill()
        for connection in held:
            connection.close()
        listener.close()
    log = assert_exited_cleanly(running, code)
    assert took < GRACE + MARGIN, f"took {took:.1f}s: {log}"
    assert state.exists()
