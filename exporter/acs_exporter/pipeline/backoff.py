"""Capped exponential backoff with "equal jitter", for retrying what failed."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    """Delays of base, 2 base, 4 base, ... up to `cap`, each drawn from the upper half of its
    step (at least half of it, so retries never collapse to ~0), honouring a server's
    Retry-After up to `max_retry_after`."""

    base: float = 1.0
    cap: float = 300.0
    max_retry_after: float = 3600.0
    failures: int = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        self.failures += 1
        ceiling = min(self.cap, self.base * 2.0 ** min(self.failures - 1, 30))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (jitter, not crypto)
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay

    def reset(self) -> None:
        self.failures = 0
