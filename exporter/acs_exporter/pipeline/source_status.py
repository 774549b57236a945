"""What the landing page says about each source: up or failing, the last error, the cursor lag
and the last successful poll. Published by the Exporter with each snapshot (one immutable
value, so the HTTP threads read it without a lock)."""

from __future__ import annotations

from dataclasses import dataclass

from acs_exporter.inputs.redact import scrub_text, shorten

# Enough for the error code, the first inner code and the correlationId; the whole message is
# in the log line and on /readyz.
ERROR_MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class LastError:
    reason: str  # the `reason` label of acs_exporter_query_errors_total
    message: str  # masked and cut short (short_message)
    at: float  # Unix time


@dataclass(frozen=True)
class SourceStatus:
    name: str
    type: str
    up: bool | None  # None: not polled yet
    last_success: float | None  # Unix time
    watermark: float | None  # Unix time of the cursor (what has been read up to)
    last_error: LastError | None  # kept after a recovery, with its time

    def cursor_lag(self, now: float) -> float | None:
        return None if self.watermark is None else max(0.0, now - self.watermark)


def short_message(message: str) -> str:
    """A poll's error message as the landing page shows it: the secrets the process holds,
    token-shaped strings and URLs' credentials and queries masked (sources mask URLs already;
    this is the second line of defence for the words of libraries and servers they quote),
    one line, short."""
    one_line = " ".join(scrub_text(message).split())
    return shorten(one_line, ERROR_MESSAGE_LIMIT)
