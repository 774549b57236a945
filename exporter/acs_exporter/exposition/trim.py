"""Handing the memory a render freed back to the system, where the C library allows it.

Rendering a snapshot of 50,000 series allocates and frees ~20 MB in a few large blocks (the
joined text, its encoding, gzip's buffers). glibc's malloc keeps what such blocks leave free in
its heap rather than returning it: measured, ~250 bytes of RSS per series stayed resident after
the first scrape of each snapshot, a quarter of the 1 kB per series budget (#12), though
nothing referenced them. `malloc_trim(0)` returns those pages (~1 ms at 50k series); it runs
once per rendered snapshot and format, never per scrape. Elsewhere (musl, macOS) it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from typing import Final


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # no C library by that name, or not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]  # the padding to keep at the top of the heap
    trim.restype = ctypes.c_int
    return trim


_TRIM: Final = _malloc_trim()


def release_freed_memory() -> None:
    """Return the C heap's free pages to the system (glibc); nothing elsewhere."""
    if _TRIM is not None:
        _TRIM(0)
