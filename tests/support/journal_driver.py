"""Commit batches through a real Checkpoint until killed, optionally SIGKILLing itself at one
exact point of the write path (tests/pipeline/test_journal_sigkill.py).

    journal_driver.py PATH BATCHES [POINT N]

Batch i (1-based) adds i to series (code i % 40), counts i records, and sets the cursor to i;
"committed i" is printed once commit(i) returned. POINT is where the N-th such event kills the
process, before it returns:

- `append`: a journal record half written (os.write of half its bytes);
- `snapshot-written`: a compaction's temporary snapshot fsynced, not renamed yet;
- `snapshot-renamed`: a compaction's snapshot renamed, the old journal not removed yet.

The snapshot holds 50 series (a few kB), so the journal is compacted every ~20 commits (when
it outgrows the snapshot) and a random-time SIGKILL lands in compactions too.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from acs_exporter.definitions.tables import CALL_SUMMARY, LabelPlan
from acs_exporter.pipeline.aggregate import Delta
from acs_exporter.pipeline.checkpoint import Checkpoint

SEEDED = 50


def delta(i: int) -> Delta:
    d = Delta(records_read=i)
    d.series[(CALL_SUMMARY.state_key, str(i % 40), "0", "Success", ())] += i
    return d


def seed_delta() -> Delta:
    d = Delta(records_read=SEEDED)
    for code in range(SEEDED):
        d.series[(CALL_SUMMARY.state_key, str(1000 + code), "0", "Unknown", ())] += 1
    return d


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install(point: str, nth: int, snapshot: Path, journal: Path) -> None:
    seen = [0]

    def hit() -> bool:
        seen[0] += 1
        return seen[0] == nth

    real_write, real_fsync, real_replace = os.write, os.fsync, os.replace

    def write(fd: int, data: Any) -> int:
        ours = point == "append" and os.path.realpath(f"/proc/self/fd/{fd}") == str(journal)
        if ours and hit():
            real_write(fd, bytes(data)[: len(data) // 2])
            _kill()
        return real_write(fd, data)

    def fsync(fd: int) -> None:
        real_fsync(fd)
        name = os.path.basename(os.path.realpath(f"/proc/self/fd/{fd}"))
        temporary = name.startswith(f".{snapshot.name}.") and ".journal." not in name
        if point == "snapshot-written" and temporary and hit():
            _kill()

    def replace(src: Any, dst: Any) -> None:
        real_replace(src, dst)
        if point == "snapshot-renamed" and Path(dst) == snapshot and hit():
            _kill()

    os.write, os.fsync, os.replace = write, fsync, replace  # type: ignore[assignment]


def main() -> None:
    path, batches = Path(sys.argv[1]), int(sys.argv[2])
    checkpoint = Checkpoint(path, LabelPlan(), compact_bytes=1500, compact_seconds=3600)
    checkpoint.lock()
    state = checkpoint.load()
    if not state.series:
        state = state.apply("driver", seed_delta(), 0, 100_000)
        checkpoint.compact(state)
    if len(sys.argv) > 3:
        real = checkpoint.real_path
        _install(sys.argv[3], int(sys.argv[4]), real, checkpoint.journal_path)
    cursor = state.cursors.get("driver") or 0
    assert isinstance(cursor, int)
    first = cursor + 1
    for i in range(first, first + batches):
        state, change = state.applied("driver", delta(i), i, 100_000)
        checkpoint.commit(state, change)
        print(f"committed {i}", flush=True)


if __name__ == "__main__":
    main()
