"""Records that cannot be read: counted by reason, the first few of a file logged with
file:line, the rest summed up in one line."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from acs_exporter.inputs.redact import shorten

log = logging.getLogger("acs_exporter.sources.files")

# Rejections logged one by one per file and fetch; the rest are summed up in one line.
MAX_LOGGED_REJECTIONS = 20
# A rejection's message quotes the value it could not read: at most this many characters of it
# (a 1 MiB object logged twenty times a poll would flood the logs).
MAX_MESSAGE_CHARS = 300


class Rejecter:
    """Counts rejections and logs the first few of a file (with file:line) one by one.

    The counts reach `into` only when the read completes: a read that fails midway leaves
    the file's progress where it was, so its rejected lines are read, and counted, again.
    """

    def __init__(self, source: str, path: Path, into: Counter[str]) -> None:
        self._source = source
        self._path = path
        self._into = into
        self._rejected: Counter[str] = Counter()
        self._logged = 0
        self._suppressed: Counter[str] = Counter()

    def __enter__(self) -> Rejecter:
        return self

    def __exit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        if error_type is None:
            self._into.update(self._rejected)
        if self._suppressed:
            reasons = ", ".join(f"{r}: {n}" for r, n in sorted(self._suppressed.items()))
            log.warning(
                "%s: %d more records rejected (%s)",
                self._path,
                sum(self._suppressed.values()),
                reasons,
            )

    def __call__(self, reason: str, where: str, message: str) -> None:
        self._rejected[reason] += 1
        # The first MAX_MESSAGE_CHARS characters, "...", and the length.
        message = shorten(message, MAX_MESSAGE_CHARS + 3, say_length=True)
        if self._logged < MAX_LOGGED_REJECTIONS:
            self._logged += 1
            log.warning(
                "%s: %s (rejected: %s)",
                where,
                message,
                reason,
                extra={"source": self._source, "reason": reason},
            )
        else:
            self._suppressed[reason] += 1
