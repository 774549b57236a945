"""The cyclic garbage collector paused while a large query response is parsed and counted.

A raw-mode response is hundreds of thousands of small lists and strings, none in a reference
cycle. While they are alive, every allocation-triggered collection walks them again, and the
older generations' collections come more often as they pile up, so the per-row cost of a parse
grew with the response (1.7-2.3x per row at 300k rows vs 30k). With the collector paused for
the parse and the count (never while a query waits on the network), and the rows dropped (freed
by reference counting) before it resumes, the collector never sees them. Large bodies are also
parsed in pieces (pieces.py), so what is alive at once stays small either way.

The pause is process-wide (the collector is), and several queries of one fetch parse at once on
the source's threads: the first to enter pauses it, the last to leave restores what it found
(enabled or not), in a `finally`, so an exception or a signal handler raising inside the parse
leaves the collector as it was.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause automatic collection for the block (nested and concurrent uses share one pause)."""
    global _holders, _was_enabled  # noqa: PLW0603 - one collector per process
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
