"""`--log.format logfmt` writes lines a strict logfmt parser (tests/support/logfmt_parser.py,
not the writer's code) reads back whole: every line of a real exporter process, every field."""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from acs_exporter import logfmt
from acs_exporter.logsetup import LogfmtFormatter
from support.daemon_helpers import assert_exited_cleanly, killed_if_left_running, start, wait_for
from support.logfmt_parser import LogfmtSyntaxError, parse_line

HOSTILE_NAME = 'sim "one" a=b\\c\tend'
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
LEVELS = {"debug", "info", "warn", "error"}


@given(st.lists(st.tuples(st.text(), st.text()), max_size=6))
def test_any_text_round_trips_through_a_strict_parser(pairs: list[tuple[str, str]]) -> None:
    distinct = {logfmt.encode_key(k): (k, v) for k, v in pairs}
    line = logfmt.encode((k, v) for k, v in distinct.values())
    if not distinct:
        assert line == ""
        return
    parsed = parse_line(line)
    assert parsed == {key: value for key, (_, value) in distinct.items()}


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("", '""'),
        ("plain", "plain"),
        ("two words", '"two words"'),
        ('say"hi', '"say\\"hi"'),
        ("a=b", '"a=b"'),
        ("back\\slash", "back\\slash"),
        ('C:\\dir\\ "x"', '"C:\\\\dir\\\\ \\"x\\""'),
        ("line\nbreak\r\ttab", '"line\\nbreak\\r\\ttab"'),
        ("bell\x07", '"bell\\u0007"'),
        ("ünïcode", "ünïcode"),
        (None, "null"),
        (True, "true"),
        (3, "3"),
        (0.25, "0.25"),
        (["a", "b c"], '"[\\"a\\",\\"b c\\"]"'),
    ],
)
def test_values_are_quoted_and_escaped_as_go_logfmt_does(value: object, written: str) -> None:
    assert logfmt.encode_value(value) == written


def test_the_parser_is_strict() -> None:
    """Guards the guard: lines the old text format wrote are refused."""
    for bad in ["msg='it failed' a=1", 'a="unterminated', "a=b  c=d", 'a=x"y', "novalue"]:
        with pytest.raises(LogfmtSyntaxError):
            parse_line(bad)


def test_a_traceback_stays_on_one_line() -> None:
    try:
        raise ValueError('bad "value"\nsecond line')
    except ValueError:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, "f", 1, "failed", (), sys.exc_info(), extra={"source": "a b"}
        )
    line = LogfmtFormatter().format(record)
    assert "\n" not in line
    fields = parse_line(line)
    assert fields["source"] == "a b"
    assert fields["exception"].startswith("Traceback (most recent call last):\n")
    assert fields["exception"].endswith('ValueError: bad "value"\nsecond line')


def _config(path: Path, broken: bool = False) -> None:
    sources: object = [
        {"type": "simulator", "name": HOSTILE_NAME, "seed": 1},
        {"type": "simulator", "name": "plain", "seed": 2},
    ]
    if broken:
        sources = [{"type": "simulator", "name": "x", "bogus_key": 1}]
    path.write_text(
        yaml.safe_dump({"log": {"format": "logfmt", "level": "debug"}, "sources": sources})
    )


def test_every_line_of_a_real_process_parses_with_every_field(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    _config(config)
    with killed_if_left_running(start(["--config.file", str(config)], tmp_path)) as running:
        running.wait_ready()
        wait_for(lambda: running.log().count("msg=polled") >= 4, "a few polls", running)
        _config(config, broken=True)
        running.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload failed" in running.log(), "the failed reload", running)
        log = assert_exited_cleanly(running, running.stop())

    lines = [parse_line(line) for line in log.splitlines()]
    for fields in lines:
        assert TS.fullmatch(fields["ts"]), fields
        assert fields["level"] in LEVELS, fields
        assert fields["logger"].startswith("acs_exporter"), fields
        assert fields["msg"], fields
    by_msg = {fields["msg"]: fields for fields in lines}
    started = by_msg["acs-exporter started"]
    assert json.loads(started["sources"]) == [HOSTILE_NAME, "plain"]
    assert started["state_path"] == "null"
    assert started["basic_auth"] == "false"
    assert started["listen_address"] == f"http://127.0.0.1:{running.port}"
    polled = [f for f in lines if f["msg"] == "polled"]
    assert {f["source"] for f in polled} == {HOSTILE_NAME, "plain"}
    # A mapping field is one value: compact JSON inside the quotes.
    assert all(f["caught_up"] in {"true", "false"} for f in polled)
    assert all(isinstance(n, int) for f in polled for n in json.loads(f["observations"]).values())
    assert any(json.loads(f["observations"]) for f in polled)
    failed = next(f for f in lines if f["msg"].startswith("configuration reload failed"))
    assert failed["level"] == "error"
    assert f"{config}:" in failed["error"]
    assert "bogus_key" in failed["error"]
    stopped = by_msg["stopped"]
    assert stopped["signal"] == "SIGTERM"
    assert json.loads(stopped["abandoned_polls"]) == []


@pytest.mark.parametrize(
    ("log_format", "machine"), [("json", True), ("logfmt", True), ("text", False)]
)
def test_no_progress_bar_interleaves_machine_read_logs(log_format: str, machine: bool) -> None:
    """The files source draws a progress bar on a terminal only while the log lines are not
    for a parser: logfmt lines are, as JSON ones."""
    from acs_exporter.logsetup import setup_logging
    from acs_exporter.sources.files import progress

    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        setup_logging(log_format)  # type: ignore[arg-type]
        assert progress.logging_json() is machine
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
