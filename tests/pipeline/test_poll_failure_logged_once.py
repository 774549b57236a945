"""A failed poll is one log record, whatever failed: the `poll failed` line carries the reason,
the error and (for an unexpected error) the traceback. Before, a checkpoint write failure and
an unexpected error were each logged twice per poll (their own line, then `poll failed`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, LabelPlan
from acs_exporter.pipeline.backoff import Backoff
from acs_exporter.pipeline.checkpoint import Checkpoint
from acs_exporter.pipeline.daemon import Exporter, poll_once
from acs_exporter.sources.base import Batch, Cursor, Observation


class Counting:
    """A batch of one call end per poll, its cursor one further; or, with `boom`, an error."""

    name = "la"

    def __init__(self, boom: str = "") -> None:
        self.boom = boom

    def fetch(self, cursor: Cursor) -> Batch:
        if self.boom:
            raise RuntimeError(self.boom)
        position = int(cursor or 0) + 1
        return Batch({CALL_SUMMARY: [Observation("0", "0", n=1)]}, cursor=position)

    def close(self) -> None:
        pass


def _poll_three_times(exporter: Exporter, source: Counting) -> None:
    for _ in range(3):
        poll_once(source, exporter, Backoff(), time.monotonic())


def _mentioning(caplog: pytest.LogCaptureFixture, words: str) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if words in record.getMessage() + str(record.__dict__.get("error", ""))
        or (record.exc_text and words in record.exc_text)
        or (record.exc_info and words in str(record.exc_info[1]))
    ]


def test_a_checkpoint_write_failure_is_logged_once_per_poll(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state-dir-7c1"
    state.mkdir()
    exporter = Exporter(
        catalog=load_catalog(),
        source_names=["la"],
        checkpoint=Checkpoint(state / "checkpoint.json", LabelPlan()),
    )
    state.rmdir()
    state.write_text("a file where the state directory was")  # every save fails (root too)
    with caplog.at_level(logging.DEBUG):
        _poll_three_times(exporter, Counting())
    records = _mentioning(caplog, "state-dir-7c1")
    assert len(records) == 3, [r.getMessage() for r in records]
    for record in records:
        assert record.getMessage() == "poll failed"
        assert record.__dict__["reason"] == "checkpoint_write"
        assert "not counted and is read again" in record.__dict__["error"]
        assert record.levelno == logging.ERROR


def test_an_unexpected_error_is_logged_once_per_poll_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = Exporter(catalog=load_catalog(), source_names=["la"])
    with caplog.at_level(logging.DEBUG):
        _poll_three_times(exporter, Counting(boom="boom-4e2"))
    records = _mentioning(caplog, "boom-4e2")
    assert len(records) == 3, [r.getMessage() for r in records]
    for record in records:
        assert record.getMessage() == "poll failed"
        assert record.__dict__["reason"] == "internal"
        assert record.exc_info is not None  # the traceback, in the same record
        assert record.levelno == logging.ERROR
