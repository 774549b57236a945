"""A real Prometheus reads the gzip scrape the exporter serves as several gzip members (the
cached static runs, fresh members for the cursor lag and for the process metrics).

Prometheus asks for gzip on every scrape and decodes it with Go's gzip.Reader, which reads a
multistream body whole. A reader that stopped at the first member would miss every family after
it: the cursor lag, the self-metrics after it and the process metrics."""

from __future__ import annotations

import gzip
import urllib.request
from pathlib import Path

from stack import STARTUP_TIMEOUT_S, running_stack

from acs_exporter.definitions.metrics import BUILD_INFO, CONFIG_RELOAD_SUCCESSFUL, CURSOR_LAG


def test_prometheus_reads_every_member_of_a_gzip_scrape(tmp_path: Path) -> None:
    sources = [{"type": "simulator", "time_scale": 60, "seed": 3}]
    with running_stack(tmp_path, sources) as running:
        client = running.prometheus
        # One family from each part: the first cached member, the fresh lag member, the
        # cached member after it, and the process collector's own member.
        for expr in (
            BUILD_INFO.sample,
            CURSOR_LAG.sample,
            CONFIG_RELOAD_SUCCESSFUL.sample,
            "process_cpu_seconds_total",
        ):
            result = client.wait_for(f'{expr}{{job="acs-exporter"}}', STARTUP_TIMEOUT_S * 2)
            assert result, expr
        up = client.wait_for('up{job="acs-exporter"} == 1', STARTUP_TIMEOUT_S)
        assert up[0]["value"][1] == "1"
        request = urllib.request.Request(
            running.exporter_url + "/metrics", headers={"Accept-Encoding": "gzip"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            body = response.read()
        assert gzip.decompress(body).count(b"# TYPE ") > 10
