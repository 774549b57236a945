"""Structured logging: one JSON object per line by default; `--log.format logfmt` for logfmt
(as Prometheus' own exporters write it); `text` for a person at a terminal.

Fields passed with `extra={...}` become top-level keys, so log pipelines can filter on `source`
or `reason` without parsing messages. `text` is not a machine format: its message is unquoted
and a traceback follows on its own lines; pipelines should read `json` or `logfmt`.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from acs_exporter import logfmt
from acs_exporter.inputs.redact import scrub_text

_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


def _level(record: logging.LogRecord) -> str:
    """The level as --log.level spells it (warn, not warning)."""
    return record.levelname.lower().replace("warning", "warn")


def _scrubbed(value: object) -> object:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, list | tuple):
        return [_scrubbed(item) for item in value]
    if isinstance(value, dict):
        return {key: _scrubbed(item) for key, item in value.items()}
    return value


class ScrubSecrets(logging.Filter):
    """Every record leaves without a secret the process holds or a token-shaped string: the
    message, its fields and its traceback. On the root handler, so the lines of the libraries
    (the OpenTelemetry SDK, urllib3, azure) are scrubbed as the exporter's own are: they quote
    what they were given in words of their own, not as URLs."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg, record.args = scrub_text(record.getMessage()), None
        except (TypeError, ValueError):  # arguments that do not fit: the handler reports it
            record.msg = scrub_text(str(record.msg))
        for key, value in _fields(record).items():
            setattr(record, key, _scrubbed(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_text(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub_text(record.stack_info)
        return True


def _exception(record: logging.LogRecord) -> str | None:
    """The record's traceback, as ScrubSecrets left it."""
    if record.exc_text:
        return record.exc_text
    if record.exc_info:
        return scrub_text(logging.Formatter().formatException(record.exc_info))
    return None


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _time(record),
            "level": _level(record),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_fields(record))
        exception = _exception(record)
        if exception:
            entry["exception"] = exception
        return orjson.dumps(entry, default=str).decode()


class LogfmtFormatter(logging.Formatter):
    """`ts=... level=info logger=... msg="..." key=value`, one line per record: a traceback is
    the `exception` field, its newlines escaped (see acs_exporter.logfmt)."""

    def format(self, record: logging.LogRecord) -> str:
        pairs: list[tuple[str, object]] = [
            ("ts", _time(record)),
            ("level", _level(record)),
            ("logger", record.name),
            ("msg", record.getMessage()),
            *_fields(record).items(),
        ]
        exception = _exception(record)
        if exception:
            pairs.append(("exception", exception))
        return logfmt.encode(pairs)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [_time(record), _level(record), f"{record.name}:", record.getMessage()]
        parts += [
            f"{k}={v!r}" if isinstance(v, str) and " " in v else f"{k}={v}"
            for k, v in _fields(record).items()
        ]
        text = " ".join(parts)
        exception = _exception(record)
        if exception:
            text += "\n" + exception
        return text


LogFormat = Literal["json", "logfmt", "text"]
_FORMATTERS: dict[str, type[logging.Formatter]] = {
    "json": JsonFormatter,
    "logfmt": LogfmtFormatter,
    "text": TextFormatter,
}


def setup_logging(log_format: LogFormat = "json", level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_FORMATTERS.get(log_format, JsonFormatter)())
    handler.addFilter(ScrubSecrets())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(_LEVELS.get(level, logging.INFO))
    # Libraries that log every HTTP request at INFO would drown the exporter's own lines.
    for noisy in ("azure", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # azure.identity logs every failure to get a token at WARNING, then raises it; the poll
    # reports it (`poll failed`, reason auth, the credential's own words), so at WARNING it
    # would be logged twice per poll.
    logging.getLogger("azure.identity").setLevel(max(logging.ERROR, root.level))
