"""The caches keyed on raw values from the logs hold short keys only.

The resolver's cache (raw end code, subcode and service category -> labels) and the breakdown
rules' answers (raw resource id, SDK version, OS -> label) are bounded by entries. A key is as
long as the source lets a value be (a files source's line: up to `max_line_bytes`, 1 MiB), so
an entry bound alone let distinct junk (a corrupted column, a careless export) hold its whole
size for the life of the process: 100,000 x 1 MiB in the resolver. Real values are short, so a
long one is answered afresh each time instead: junk costs CPU, never memory.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator

from acs_exporter.catalog import Domain, load_catalog
from acs_exporter.definitions import breakdowns
from acs_exporter.pipeline.aggregate import Resolver

JUNK_KEYS = 2_000
JUNK_CHARS = 50_000  # 100 MB of distinct junk in all


def _junk() -> Iterator[str]:
    for i in range(JUNK_KEYS):
        yield f"{i:08d}" + "x" * (JUNK_CHARS - 8)


def _held_after(step: Callable[[str], object]) -> int:
    """Bytes still allocated after `step` saw every junk value (each freed by the caller)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for value in _junk():
            step(value)
            del value
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_distinct_junk_end_codes_are_resolved_but_not_remembered() -> None:
    resolver = Resolver(load_catalog())
    answers: list[str] = []

    def resolve(code: str) -> None:
        answers.append(resolver.resolve(code, "0", "Success", Domain.CALL_END).code)

    held = _held_after(resolve)
    assert set(answers) == {"malformed"}
    assert held < 5 * 2**20, f"the resolver holds {held / 2**20:.0f} MiB of junk codes"
    # Junk in the subcode or the service's category is not remembered either.
    for junk_subcode in ("1" * 10_000, "x" * 10_000):
        assert resolver.resolve(0, junk_subcode, None, Domain.CALL_END).subcode == "malformed"
    long_category = "Success" + " " * 10_000
    resolver.resolve(0, 0, long_category, Domain.CALL_END)
    assert all(len(str(part)) < 1000 for key in resolver._cache for part in key)


def test_real_end_reasons_are_still_answered_from_the_cache() -> None:
    resolver = Resolver(load_catalog())
    first = resolver.resolve("487", "10003", "Success", Domain.CALL_END)
    assert resolver.resolve("487", "10003", "Success", Domain.CALL_END) is first


def test_the_breakdown_rules_do_not_remember_long_raw_values() -> None:
    for rule in (breakdowns.resource_name, breakdowns.sdk_release, breakdowns.os_family):
        held = _held_after(rule)
        assert held < 5 * 2**20, f"{rule.__name__} holds {held / 2**20:.0f} MiB of raw values"
    # A real value is still remembered: the second answer is the same object.
    user_agent = "azsdk-js-communication-calling/1.30.1 (Windows 10)"
    assert breakdowns.sdk_release(user_agent) is breakdowns.sdk_release(user_agent)
