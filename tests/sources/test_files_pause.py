"""A real exporter reading a file whose writer pauses mid-line: the record counts once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from support.daemon_helpers import samples, start


def record(code: str, subcode: str = "0") -> str:
    return json.dumps(
        {
            "category": "CallSummary",
            "properties": {"participantEndReason": code, "participantEndSubCode": subcode},
        }
    )


def test_the_daemon_counts_a_record_whose_writer_paused_mid_line_once(tmp_path: Path) -> None:
    data = tmp_path / "calls.jsonl"
    line = record("487", "10003")
    data.write_text(record("0") + "\n" + line[:25])
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "log": {"format": "text"},
                "sources": [
                    {
                        "type": "files",
                        "paths": [str(data)],
                        "progress": False,
                        "poll_interval": "100ms",
                        "unterminated_line_timeout": "1m",
                    }
                ],
            }
        )
    )
    running = start(["--config.file", str(config)], tmp_path)

    def polls() -> float:
        text = running.metrics()
        return samples(text, "acs_exporter_polls_total")[
            (("outcome", "success"), ("source", "files"))
        ]

    try:
        running.wait_ready(timeout=60)
        paused_at = polls()
        deadline = time.monotonic() + 60
        while polls() < paused_at + 10:  # ten poll intervals: far more than half of one
            assert time.monotonic() < deadline, running.log()
            time.sleep(0.1)
        with data.open("a") as f:
            f.write(line[25:] + "\n")
        while True:
            text = running.metrics()
            read = samples(text, "acs_exporter_records_read_total")[(("source", "files"),)]
            if read >= 2:
                break
            assert time.monotonic() < deadline, running.log()
            time.sleep(0.1)
    finally:
        assert running.stop() == 0, running.log()
    assert read == 2
    assert sum(samples(text, "acs_exporter_records_rejected_total").values()) == 0
    ends = samples(text, "acs_call_ends_total")
    assert {dict(k)["code"]: v for k, v in ends.items()} == {"0": 1.0, "487": 1.0}
