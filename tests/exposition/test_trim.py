"""The render's freed memory is handed back on glibc (trim.py): not silently a no-op there."""

from __future__ import annotations

import platform

import pytest

from acs_exporter.exposition import trim
from acs_exporter.exposition.rendered import RenderedSnapshots
from acs_exporter.exposition.snapshot import Family, Snapshot


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibc_malloc_trim_is_found() -> None:
    assert trim._TRIM is not None
    trim.release_freed_memory()


def test_each_new_render_releases_what_it_freed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def trimmed(pad: int) -> int:
        calls.append(pad)
        return 1

    monkeypatch.setattr(trim, "_TRIM", trimmed)
    family = Family("acs_test", "Test.", "gauge", ("a",), ((("x",), 1.0),))
    current = [Snapshot((family,))]
    rendered = RenderedSnapshots(lambda: current[0])
    for _ in range(3):  # one render, then cached scrapes: no more trims
        rendered.body("text", compress=False)
    assert calls == [0]
    current[0] = Snapshot((family,))
    rendered.body("text", compress=True)
    assert calls == [0, 0]
