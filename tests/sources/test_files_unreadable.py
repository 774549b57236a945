"""What the files source cannot read: named in the batch (`Batch.unreadable`), so the exporter
is not ready while a file or directory its paths name is unreadable; tried again at the next
regular poll, never at once (caught_up stays True: no busy loop). Real permissions, with a real
exporter process: tests/app/test_ready_means_data.py."""

from __future__ import annotations

import glob
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from acs_exporter.definitions.tables import CALL_SUMMARY
from acs_exporter.sources.base import Batch
from acs_exporter.sources.files.discovery import Walk
from acs_exporter.sources.files.settings import FilesSettings
from acs_exporter.sources.files.source import FilesSource


def source(pattern: Path) -> FilesSource:
    settings = FilesSettings.model_validate({"type": "files", "paths": [str(pattern)]})
    return FilesSource(settings.model_copy(update={"unterminated_line_timeout": timedelta(0)}))


def jsonl_record(code: str) -> str:
    properties = {"participantEndReason": code, "participantEndSubCode": "0"}
    return json.dumps({"category": "CallSummary", "properties": properties})


def counts(batch: Batch) -> Counter[tuple[object, object]]:
    return Counter((obs.code, obs.subcode) for obs in batch.of(CALL_SUMMARY))


def test_a_file_it_cannot_open_is_named_and_read_at_the_next_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    readable, closed = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    readable.write_text(jsonl_record("0") + "\n")
    closed.write_text(jsonl_record("487") + "\n")
    real_open = Path.open

    def denied_open(self: Path, *args: object, **kwargs: object) -> object:
        if self == closed:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", denied_open)
    src = source(tmp_path / "*.jsonl")
    with caplog.at_level(logging.WARNING):
        first = src.fetch(None)
    assert counts(first) == {("0", "0"): 1}
    assert first.unreadable == (f"{closed}: Permission denied",)
    assert first.caught_up  # not at once: at the next regular poll
    assert "cannot read" in caplog.text
    monkeypatch.undo()
    second = src.fetch(first.cursor)
    assert counts(second) == {("487", "0"): 1}
    assert second.unreadable == ()


def test_a_file_that_vanished_since_it_was_listed_is_not_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Gone (rotated, deleted): there is nothing left to read, and nothing to wait for.
    path = tmp_path / "a.jsonl"
    path.write_text(jsonl_record("0") + "\n")

    def gone(self: Path, *args: object, **kwargs: object) -> object:
        raise FileNotFoundError(2, "No such file or directory", str(self))

    monkeypatch.setattr(Path, "open", gone)
    batch = source(tmp_path / "*.jsonl").fetch(None)
    assert batch.of(CALL_SUMMARY) == []
    assert batch.unreadable == ()


@pytest.fixture
def unlistable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tmp_path/sub, whose listing and entries are denied (as a directory mode 0700 of another
    user: file modes do not stop root, who runs the tests in CI)."""
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "a.jsonl").write_text(jsonl_record("0") + "\n")
    real_scandir, real_stat, real_lstat = os.scandir, os.stat, os.lstat

    def denied(real: Callable[..., object]) -> Callable[..., object]:
        def call(path: str | Path = ".", *args: object, **kwargs: object) -> object:
            if sub in (Path(path), Path(path).parent):
                raise PermissionError(13, "Permission denied", str(path))
            return real(path, *args, **kwargs)

        return call

    monkeypatch.setattr(os, "scandir", denied(real_scandir))
    monkeypatch.setattr(os, "stat", denied(real_stat))
    monkeypatch.setattr(os, "lstat", denied(real_lstat))
    yield sub
    monkeypatch.undo()


@pytest.mark.parametrize("pattern", ["sub/*.jsonl", "*/*.jsonl", "**/*.jsonl", "sub/a.jsonl"])
def test_a_directory_it_cannot_list_or_enter_is_named(
    tmp_path: Path, unlistable: Path, pattern: str, caplog: pytest.LogCaptureFixture
) -> None:
    src = source(tmp_path / pattern)
    with caplog.at_level(logging.WARNING):
        batch = src.fetch(None)
    assert batch.of(CALL_SUMMARY) == []
    assert batch.caught_up
    if "*" in pattern:
        assert batch.unreadable == (f"{unlistable}: cannot list: Permission denied",)
        assert "matches no file" not in caplog.text
    else:
        assert batch.unreadable == (f"{unlistable / 'a.jsonl'}: Permission denied",)
    assert "Permission denied" in caplog.text


@pytest.mark.parametrize(
    "pattern",
    [
        "*.jsonl",
        "**/*.jsonl",
        "**",
        "a/**/*.jsonl",
        "*/b/*",
        "*/",
        ".*/*",
        "a/b/c.jsonl",
        "[ab]/*/?.jsonl",
        "a/**/",
        "missing/*",
        "link/*",
    ],
)
def test_the_walk_matches_what_glob_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pattern: str
) -> None:
    # The walk replaces glob.glob (which hides why a directory gave nothing): same matches.
    for name in ["top.jsonl", ".hidden.jsonl", "a/b/c.jsonl", "a/b/.d.jsonl", "a/e.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / ".h" / "x").mkdir(parents=True)
    (tmp_path / ".h" / "x.jsonl").write_text("")
    (tmp_path / "link").symlink_to("a")
    for absolute in (True, False):
        text = str(tmp_path / pattern) if absolute else pattern
        monkeypatch.chdir(tmp_path)
        assert sorted(Walk().glob(text)) == sorted(glob.glob(text, recursive=True)), text


def test_a_symlink_loop_under_a_recursive_pattern_is_not_followed_round(tmp_path: Path) -> None:
    # `ln -s . current; ln -s . latest` beside the exports: glob's `**` follows both at every
    # level until ELOOP (40 levels), 2**40 listings: the poll never returned, with no word. A
    # link back to a directory the walk is already inside adds nothing, so it is not entered;
    # a link to another directory (a `latest` pointing at the newest day) still is.
    data = tmp_path / "data"
    (data / "2026-12-01").mkdir(parents=True)
    (data / "2026-12-01" / "calls.jsonl").write_text(jsonl_record("487") + "\n")
    (data / "current").symlink_to(".")
    (data / "latest").symlink_to(".")
    (data / "2026-12-01" / "up").symlink_to("..")
    (data / "today").symlink_to("2026-12-01")
    matches = Walk().glob(f"{data}/**/*.jsonl")
    assert sorted(matches) == [
        f"{data}/2026-12-01/calls.jsonl",
        f"{data}/today/calls.jsonl",
    ]
    batch = source(data / "**" / "*.jsonl").fetch(None)  # one name per file: counted once
    assert counts(batch) == {("487", "0"): 1}


def test_a_file_name_that_is_not_utf8_is_named_and_the_other_files_are_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A Latin-1 `café.jsonl` beside the exports: its name cannot be a key of the checkpoint
    # (JSON is UTF-8), and every poll of the whole source failed at the commit, good files
    # included, with a traceback naming no file. Now it is unreadable, named as the
    # filesystem spells it, and the rest is counted.
    (tmp_path / "good.jsonl").write_text(jsonl_record("487") + "\n")
    with open(os.path.join(os.fsencode(tmp_path), b"caf\xe9.jsonl"), "wb") as f:
        f.write((jsonl_record("500") + "\n").encode())
    with caplog.at_level(logging.WARNING):
        batch = source(tmp_path / "*.jsonl").fetch(None)
    assert counts(batch) == {("487", "0"): 1}
    assert batch.unreadable == (
        f"{tmp_path}/caf\\xe9.jsonl: the name is not UTF-8 (rename the file to read it)",
    )
    assert orjson.dumps(batch.cursor)  # the checkpoint (orjson, UTF-8 only) can be written
    assert "caf\\xe9.jsonl: the name is not UTF-8" in caplog.text
