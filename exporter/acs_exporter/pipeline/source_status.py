"""What the landing page says about each source: up or failing, the last error, the cursor lag
and the last successful poll. Published by the Exporter with each snapshot (one immutable
value, so the HTTP threads read it without a lock)."""

from __future__ import annotations

from dataclasses import dataclass

from acs_exporter.inputs.redact import scrub_text, shorten

# Enough for the error code, the first inner code and the correlationId; the whole message is
# in the log line and on /readyz.
ERROR_MESSAGE_LIMIT = 300
# /readyz names each failing source's error whole, unless a server or a proxy answered with a
# page of text: then its start (reason, status, the service's code and correlationId come first).
READINESS_MESSAGE_LIMIT = 4000


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
    one_line = " ".join(_scrubbed_start(message, ERROR_MESSAGE_LIMIT).split())
    return shorten(one_line, ERROR_MESSAGE_LIMIT)


def readiness_message(reason: str, message: str) -> str:
    """What /readyz says of a failed poll: `reason: message`, scrubbed, at most
    READINESS_MESSAGE_LIMIT characters, saying how long the message was when it is cut."""
    text = f"{reason}: {_scrubbed_start(message, READINESS_MESSAGE_LIMIT)}"
    # The saying of the length makes a cut line a little longer than the limit.
    total = len(reason) + 2 + len(message)
    return shorten(text, READINESS_MESSAGE_LIMIT, say_length=True, length=total)


def _scrubbed_start(message: str, limit: int) -> str:
    """The start of `message` scrubbed, enough of it for a cut at `limit`. Cut well past the
    limit first, so a huge message costs little to scrub; what sits near that first cut (a URL
    cut there can lose its '@', and show a password's start) is dropped by the caller's cut."""
    return scrub_text(message[: 4 * limit])
