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
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
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
        if record.exc_info:
            pairs.append(("exception", self.formatException(record.exc_info)))
        return logfmt.encode(pairs)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [_time(record), _level(record), f"{record.name}:", record.getMessage()]
        parts += [
            f"{k}={v!r}" if isinstance(v, str) and " " in v else f"{k}={v}"
            for k, v in _fields(record).items()
        ]
        text = " ".join(parts)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
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
