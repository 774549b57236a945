"""A real exporter process with 20,000 series: the first /metrics after /readyz turns ready
serves every series the source held at start-up.

The source (files, as an export dropped before start) needs several polls to read them
(`batch_records` bounds a poll, as `max_window` does for Log Analytics and a restart's backlog
does for the simulator). A successful poll used to make the exporter ready, so the first scrape
held only the first batch's series."""

from __future__ import annotations

import gzip
import os
import time
import urllib.request
from pathlib import Path

import yaml

from support.daemon_helpers import Running, killed_if_left_running, samples, start, wait_for
from support.permissions import BOUND_BY_MODES, close, reopen

SERIES = 20_000
HEADER = (
    'TenantId,"TimeGenerated [UTC]",CorrelationId,ParticipantEndReason,ParticipantEndSubCode,'
    "ResultCategory,CallType,EndpointType,ParticipantType,DiagnosticOptions\n"
)


def export(path: Path, series: int) -> None:
    # One record per series: 20,000 distinct (code, subcode) pairs.
    row = (
        '00000000-0000-0000-0000-000000000000,"11/20/2026, 10:00:00.000 AM",'
        "c{i},487,{s},,P2P,VoIP,ACS,\n"
    )
    path.write_text(HEADER + "".join(row.format(i=i, s=10_000 + i) for i in range(series)))


def call_ends(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("acs_call_ends_total{")
    )


def test_the_first_scrape_after_ready_has_every_series_of_the_backlog(tmp_path: Path) -> None:
    csv = tmp_path / "export.csv"
    export(csv, SERIES)
    config = tmp_path / "config.yaml"
    source = {"type": "files", "paths": [str(csv)], "batch_records": 6_000, "progress": False}
    config.write_text(
        yaml.safe_dump(
            {
                "metrics": {"max_series": SERIES * 2},
                "log": {"level": "warn"},
                "sources": [{**source, "poll_interval": "30s"}],
            }
        )
    )
    with killed_if_left_running(start(["--config.file", str(config)], tmp_path)) as running:
        running.wait_ready(timeout=120)
        request = urllib.request.Request(
            running.url + "/metrics", headers={"Accept-Encoding": "gzip"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body = gzip.decompress(response.read()).decode()
        series = sum(1 for line in body.splitlines() if line.startswith("acs_call_ends_total{"))
        assert series == SERIES, running.log()[-2000:]
        assert running.stop() == 0


def polled(running: Running) -> bool:
    try:
        return "cannot read" in running.get("/readyz")[1]
    except OSError:
        return False  # not listening yet


def test_a_file_or_directory_it_cannot_read_keeps_it_not_ready(tmp_path: Path) -> None:
    # The classic Kubernetes mistake: a volume mounted without the pod's fsGroup. Ready would
    # say the counts are complete while they lack every record of what cannot be read.
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "closed").mkdir()
    export(data / "a.csv", 10)
    export(data / "b.csv", 1000)  # a file it cannot open
    export(data / "sub" / "c.csv", 20)  # in a directory it cannot list (a pattern's)
    export(data / "closed" / "d.csv", 30)  # in a directory it cannot enter (a plain path)
    closed = [data / "b.csv", data / "sub", data / "closed"]
    config = tmp_path / "config.yaml"
    paths = [f"{data}/*.csv", f"{data}/sub/*.csv", f"{data}/closed/d.csv"]
    source = {"type": "files", "name": "exports", "paths": paths, "progress": False}
    config.write_text(yaml.safe_dump({"sources": [{**source, "poll_interval": "1s"}]}))
    for path in closed:
        close(path)
    try:
        running = start(["--config.file", str(config)], tmp_path, command=BOUND_BY_MODES)
        with killed_if_left_running(running):
            wait_for(lambda: polled(running), "a poll that found what it cannot read", running)
            time.sleep(2.5)  # two more polls: it stays not ready, and does not busy-loop
            status, body = running.get("/readyz")
            assert status == 503, body
            assert "source exports: cannot read " in body
            assert f"{data / 'b.csv'}: Permission denied" in body
            assert f"{data / 'sub'}: cannot list: Permission denied" in body
            assert f"{data / 'closed' / 'd.csv'}: Permission denied" in body
            assert call_ends(running.metrics()) == 10
            polls = samples(running.metrics(), "acs_exporter_polls_total")
            assert sum(polls.values()) < 10, polls
            for path in closed:
                reopen(path)  # read at the next regular poll: then ready, with every record
            running.wait_ready(20)
            assert call_ends(running.metrics()) == 1060
            assert "Traceback" not in running.log()
            assert running.stop() == 0
    finally:
        for path in closed:
            reopen(path)


def test_an_old_export_without_a_final_newline_is_counted_whole_before_ready(
    tmp_path: Path,
) -> None:
    # A finished export whose last line lacks a newline (many tools write files so), untouched
    # for an hour: its last record no longer waits `unterminated_line_timeout` (here 50 s) after
    # every start while /readyz already says ready.
    csv = tmp_path / "export.csv"
    export(csv, 3)
    csv.write_text(csv.read_text().rstrip("\n"))
    an_hour_ago = time.time() - 3600
    os.utime(csv, (an_hour_ago, an_hour_ago))
    config = tmp_path / "config.yaml"
    source = {"type": "files", "paths": [str(csv)], "progress": False, "poll_interval": "5s"}
    config.write_text(yaml.safe_dump({"log": {"level": "warn"}, "sources": [source]}))
    with killed_if_left_running(start(["--config.file", str(config)], tmp_path)) as running:
        running.wait_ready(30)
        assert call_ends(running.metrics()) == 3
        assert running.stop() == 0
