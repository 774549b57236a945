"""A progress bar for big files, on a terminal only, and never in the middle of JSON logs."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

# Files with at least this much left to read get a progress bar (on a terminal).
PROGRESS_MIN_BYTES = 16 * 1024 * 1024
# The same for query-result documents, counted in rows.
PROGRESS_MIN_ROWS = 100_000

Advance = Callable[[int], None]


@contextmanager
def progress_bar(enabled: bool, path: Path, total: int, done: int, unit: str) -> Iterator[Advance]:
    """A tqdm bar on stderr for big files when stderr is a terminal; never on stdout.

    `total` and `done` are in `unit`: "B" (bytes) or "rows" (of a query-result document).
    """
    big = total - done >= (PROGRESS_MIN_BYTES if unit == "B" else PROGRESS_MIN_ROWS)
    if not (enabled and big and sys.stderr.isatty()) or logging_json():
        yield _ignore
        return
    bar = tqdm(
        total=total,
        initial=done,
        unit=unit,
        unit_scale=True,
        desc=path.name,
        file=sys.stderr,
        leave=False,
    )

    def advance(n: int) -> None:
        bar.update(n)

    try:
        yield advance
    finally:
        bar.close()


def _ignore(_: int) -> None:
    return None


def logging_json() -> bool:
    """True when the logs are JSON or logfmt lines: a progress bar would break them for parsers.

    Judged by what the root logger's formatters produce, so it holds whatever sets them up.
    """
    probe = logging.LogRecord("probe", logging.INFO, __file__, 0, "probe", (), None)
    for handler in logging.getLogger().handlers:
        formatter = handler.formatter or logging.Formatter()
        try:
            text = formatter.format(probe)
        except Exception:  # a formatter that cannot format a bare record is not ours to judge
            text = ""
        if text.lstrip().startswith(("{", "ts=")):  # JsonFormatter, LogfmtFormatter
            return True
    return False
