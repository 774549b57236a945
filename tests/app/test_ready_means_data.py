"""A real exporter process with 20,000 series: the first /metrics after /readyz turns ready
serves every series the source held at start-up.

The source (files, as an export dropped before start) needs several polls to read them
(`batch_records` bounds a poll, as `max_window` does for Log Analytics and a restart's backlog
does for the simulator). A successful poll used to make the exporter ready, so the first scrape
held only the first batch's series."""

from __future__ import annotations

import gzip
import urllib.request
from pathlib import Path

import yaml

from support.daemon_helpers import killed_if_left_running, start

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
