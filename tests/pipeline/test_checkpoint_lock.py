"""The checkpoint lock holds for the real file, whatever path leads to it.

Two exporters whose state paths name one file through a symlink (of the file, or of its
directory) would count into, and overwrite, one checkpoint. The second must refuse to start
with a clear error and leave the first's file untouched; a save through a symlink replaces
the real file, not the link.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.pipeline.aggregate import Delta
from acs_exporter.pipeline.checkpoint import Checkpoint, CheckpointError
from acs_exporter.pipeline.state import State
from support.daemon_helpers import start

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("link", ["file", "directory"])
def test_a_second_exporter_through_a_symlink_refuses_to_start(tmp_path: Path, link: str) -> None:
    real = tmp_path / "first" / "checkpoint.json"
    first = start([], tmp_path, env={"ACS_EXPORTER_STATE__PATH": str(real)})
    try:
        first.wait_ready()
        if link == "file":
            other = tmp_path / "second" / "checkpoint.json"
            other.parent.mkdir()
            other.symlink_to(real)
        else:
            (tmp_path / "second").symlink_to(real.parent, target_is_directory=True)
            other = tmp_path / "second" / "checkpoint.json"
        second = start([], tmp_path, env={"ACS_EXPORTER_STATE__PATH": str(other)})
        assert second.process.wait(30) == 1, second.log()
        log = second.log()
        assert "another acs-exporter process holds" in log, log
        assert str(real) in log, log  # names the real file, not only the link
        assert "Traceback" not in log
        if link == "file":
            assert other.is_symlink()  # not replaced by a file of its own
        assert first.process.poll() is None  # the first runs on, undisturbed
    finally:
        assert first.stop() == 0, first.log()
    # The first's checkpoint is its own, whole and readable (the second never wrote into it).
    assert not real.is_symlink()
    assert "simulator" in Checkpoint(real, LabelPlan()).load().cursors


def test_a_save_through_a_symlink_replaces_the_real_file(tmp_path: Path) -> None:
    real = tmp_path / "data" / "checkpoint.json"
    real.parent.mkdir()
    link = tmp_path / "checkpoint.json"
    link.symlink_to(real)
    checkpoint = Checkpoint(link, LabelPlan())
    checkpoint.lock()
    try:
        checkpoint.save(State().apply("s", Delta(), {"at": 1}, 10))
    finally:
        checkpoint.unlock()
    assert link.is_symlink()
    assert link.resolve() == real
    assert Checkpoint(link, LabelPlan()).load().cursors == {"s": {"at": 1}}
    assert not list(tmp_path.glob(".checkpoint.json.*"))  # no temporary beside the link


def test_two_paths_to_one_file_in_one_process_conflict(tmp_path: Path) -> None:
    real = tmp_path / "checkpoint.json"
    link = tmp_path / "alias.json"
    link.symlink_to(real)
    first = Checkpoint(real, LabelPlan())
    first.lock()
    try:
        with pytest.raises(CheckpointError, match="another acs-exporter process holds"):
            Checkpoint(link, LabelPlan()).lock()
    finally:
        first.unlock()
