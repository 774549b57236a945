"""`format: auto`: tell the three export formats apart from a file's first bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import orjson

from acs_exporter.definitions import tables
from acs_exporter.sources.formats.base import UTF8_BOM
from acs_exporter.sources.formats.fields import normalise_column

Format = Literal["diagnostic-jsonl", "log-analytics-json", "csv"]

HEAD_BYTES = 4096


def detect_format(head: bytes, path: Path) -> Format | None:
    """The format of a file starting with `head`, or None when it cannot be told (yet)."""
    text = head.removeprefix(UTF8_BOM).lstrip()
    if not text:
        return None
    if text.startswith(b"{"):
        return _detect_json(text, path)
    header = text.split(b"\n", 1)[0].decode("utf-8", "replace")
    columns = {normalise_column(c.strip('"')) for c in header.split(",")}
    # A column every ACS table has, or the end-code column of one (acs_exporter.definitions.tables).
    known = {"type", "timegenerated", *(t.code.key for t in tables.registered())}
    if known & columns:
        return "csv"
    return "csv" if path.suffix.lower() == ".csv" else None


def _detect_json(text: bytes, path: Path) -> Format | None:
    first_line = text.split(b"\n", 1)[0]
    try:
        record = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        record = None  # a document spread over lines, or a line longer than the head
    if isinstance(record, dict):
        return "log-analytics-json" if "tables" in record else "diagnostic-jsonl"
    if b'"tables"' in text:
        return "log-analytics-json"
    if b'"properties"' in first_line or b'"category"' in first_line:
        return "diagnostic-jsonl"
    return "log-analytics-json" if path.suffix.lower() == ".json" else None
