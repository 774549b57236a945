"""Which raw values from the logs a cache may keep as its keys: short ones.

The resolver's cache (end code, subcode, service category -> labels) and the breakdown rules'
answers (resource id, SDK version, OS -> label) are bounded by entries, but a raw value is as
long as the source lets it be (a files source's line: up to `max_line_bytes`, 1 MiB), so an
entry bound alone let distinct junk hold its whole size for the life of the process. Real
values are far shorter than each cache's bound, so a longer one is answered afresh each time:
junk costs CPU, never memory.
"""

from __future__ import annotations


def rememberable(limit: int, *values: object) -> bool:
    """Whether every str among `values` has at most `limit` characters."""
    return all(not isinstance(value, str) or len(value) <= limit for value in values)
