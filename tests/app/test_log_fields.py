"""Every `extra=` field of every logging call is a field the LogRecord can take.

`logging.Logger.makeRecord` raises `KeyError: Attempt to overwrite 'thread' in LogRecord` for an
extra key that names a LogRecord attribute (thread, name, msg, args, module, filename, ...).
The error surfaces only when that line is logged, which for most of these lines is a rare path
(shutdown with a stuck poll, a failed checkpoint write), and there it replaces the intended
handling with a traceback. So every call site is checked statically, here.
"""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import pytest

from acs_exporter.logsetup import JsonFormatter

PACKAGE = Path(__file__).resolve().parents[2] / "exporter" / "acs_exporter"
# What makeRecord refuses: every attribute a LogRecord has, plus the two Formatter adds.
# taskName is listed for Python 3.12+, where records gained it.
RESERVED = frozenset(
    set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
)

LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
)


def _logging_calls() -> list[tuple[str, ast.Call]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in LOG_METHODS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in {"log", "logger", "logging"}
            ):
                found.append((f"{path.relative_to(PACKAGE.parent)}:{node.lineno}", node))
    return found


def _extra_arguments() -> list[tuple[str, ast.expr]]:
    return [
        (where, keyword.value)
        for where, call in _logging_calls()
        for keyword in call.keywords
        if keyword.arg == "extra"
    ]


def test_the_scan_finds_the_logging_calls() -> None:
    # Guards the guard: a scan that finds nothing would pass for ever.
    assert len(_extra_arguments()) >= 10
    assert len(_logging_calls()) >= 30


def test_no_extra_field_collides_with_a_log_record_attribute() -> None:
    problems = []
    for where, value in _extra_arguments():
        if not isinstance(value, ast.Dict):
            problems.append(f"{where}: extra= is not a dict literal, so it cannot be checked")
            continue
        for key in value.keys:
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                problems.append(f"{where}: extra= key is not a string literal")
            elif key.value in RESERVED:
                problems.append(f"{where}: extra= key {key.value!r} is a LogRecord attribute")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("key", sorted(RESERVED - {"taskName"}))
def test_reserved_names_really_are_refused(key: str) -> None:
    """The list above is what logging refuses (so the scan checks the real rule)."""
    logger = logging.getLogger("acs_exporter.test_log_fields")
    with pytest.raises(KeyError, match="overwrite"):
        logger.makeRecord("n", logging.INFO, "f", 1, "m", (), None, extra={key: 1})


def test_a_permitted_extra_field_reaches_the_json_line() -> None:
    logger = logging.getLogger("acs_exporter.test_log_fields")
    record = logger.makeRecord(
        "n", logging.WARNING, "f", 1, "abandoning", (), None, extra={"poll_thread": "poll-la"}
    )
    assert '"poll_thread":"poll-la"' in JsonFormatter().format(record)


def test_every_percent_placeholder_has_its_argument() -> None:
    """The other way a log line breaks: "%s: %s" with one argument prints a "--- Logging
    error ---" traceback instead of the message (and the message is lost)."""
    problems = []
    for where, call in _logging_calls():
        method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
        args = call.args[1:] if method == "log" else call.args  # log(level, msg, ...)
        if not args or not isinstance(args[0], ast.Constant) or not isinstance(args[0].value, str):
            continue
        if any(isinstance(a, ast.Starred) for a in args):
            continue
        placeholders = len(re.findall(r"%[-#0 +]*\d*(?:\.\d+)?[sdifrxg]", args[0].value))
        if placeholders != len(args) - 1:
            problems.append(f"{where}: {placeholders} placeholders, {len(args) - 1} arguments")
    assert not problems, "\n".join(problems)
