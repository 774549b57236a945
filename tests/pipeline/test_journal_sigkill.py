"""Exactly once across SIGKILL at any point of the checkpoint's write path.

A real process (tests/support/journal_driver.py) commits numbered batches through the real
Checkpoint and is SIGKILLed: at exact points (half a journal record written; a compaction's
snapshot written but not renamed; renamed but the old journal not removed) and at random
moments. After each kill the checkpoint loads to exactly the batches up to its cursor, which is
at least the last batch reported committed; a restarted process then goes on from there.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.pipeline.checkpoint import Checkpoint

DRIVER = Path(__file__).resolve().parents[1] / "support" / "journal_driver.py"
SEEDED = 50  # journal_driver.SEEDED

pytestmark = pytest.mark.e2e


def run(path: Path, batches: int, *point: str) -> tuple[int, int]:
    """Run the driver to its end or its kill: (return code, last batch reported committed)."""
    done = subprocess.run(
        [sys.executable, str(DRIVER), str(path), str(batches), *point],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, _last_committed(done.stdout)


def _last_committed(stdout: str) -> int:
    lines = [line for line in stdout.splitlines() if line.startswith("committed ")]
    return int(lines[-1].split()[1]) if lines else 0


def assert_exactly(path: Path, reported: int) -> int:
    """The checkpoint holds exactly batches 1..cursor, and cursor >= `reported`."""
    state = Checkpoint(path, LabelPlan()).load()
    cursor = state.cursors.get("driver") or 0
    assert isinstance(cursor, int)
    assert reported <= cursor <= reported + 1, (reported, cursor)  # +1: killed before print
    expected: dict[str, int] = {}
    for i in range(1, cursor + 1):
        expected[str(i % 40)] = expected.get(str(i % 40), 0) + i
    counted = {
        code: n
        for (_, (_, code, _, category, _)), n in state.series.items()
        if category != "Unknown"
    }
    assert counted == expected
    seeded = [n for (_, (_, _, _, category, _)), n in state.series.items() if category == "Unknown"]
    assert seeded == [1] * SEEDED
    assert state.sources["driver"].records_read == SEEDED + cursor * (cursor + 1) // 2
    return cursor


@pytest.mark.parametrize(
    ("point", "nth"),
    [
        ("append", 1),
        ("append", 7),
        ("snapshot-written", 1),  # the first commit after start compacts
        ("snapshot-written", 2),  # a compaction for size
        ("snapshot-renamed", 1),
        ("snapshot-renamed", 2),
    ],
)
def test_sigkill_at_each_point_of_the_write_path(tmp_path: Path, point: str, nth: int) -> None:
    path = tmp_path / "state.ckpt"
    assert run(path, 5) == (0, 5)
    code, reported = run(path, 200, point, str(nth))
    assert code == -signal.SIGKILL, f"the driver never reached {point} #{nth}"
    cursor = assert_exactly(path, max(5, reported))  # killed in its first commit: still 5
    # A restart continues from there: torn tail, stale journal and all.
    assert run(path, 30) == (0, cursor + 30)
    assert_exactly(path, cursor + 30)


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    path = tmp_path / "state.ckpt"
    rng = random.Random(12)
    reported = 0
    for _ in range(6):
        process = subprocess.Popen(
            [sys.executable, str(DRIVER), str(path), "100000"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:  # running and committing: kill it some time later
            if line.startswith("committed "):
                break
        time.sleep(rng.uniform(0.0, 0.3))
        process.send_signal(signal.SIGKILL)
        rest, _ = process.communicate(timeout=60)
        reported = max(reported, _last_committed(line + rest))
        reported = assert_exactly(path, reported)
