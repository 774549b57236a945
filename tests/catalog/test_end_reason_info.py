"""acs_end_reason_info rows: one per (counter, code, subcode), every served pair joinable."""

from __future__ import annotations

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.tables import CALL_SUMMARY, MEDIA_SUMMARY
from acs_exporter.exposition.end_reason_info import EndReasonInfo
from acs_exporter.exposition.text import render_text
from acs_exporter.pipeline.daemon import Exporter
from acs_exporter.sources.base import Batch, Observation

CATALOG = load_catalog()


def info_rows(exporter: Exporter) -> dict[tuple[str, str, str], tuple[str, ...]]:
    (family,) = [f for f in exporter.snapshot().families if f.name == "acs_end_reason_info"]
    rows = {(labels[3], labels[0], labels[1]): labels for labels, _ in family.samples}
    assert len(rows) == len(family.samples), "one row per (domain, code, subcode)"
    return rows


def test_no_row_has_an_empty_code_or_subcode() -> None:
    """The generic subcode rows (code "") could never match a join on (code, subcode)."""
    rows = EndReasonInfo(CATALOG).rows()
    assert rows
    assert all(code and subcode for code, subcode, *_ in rows)


def test_every_served_pair_has_its_row_and_undocumented_rows_stay_short() -> None:
    exporter = Exporter(catalog=CATALOG, source_names=["a"], max_series=100)
    exporter.complete_poll(
        "a",
        Batch(
            {
                CALL_SUMMARY: [
                    Observation("0", ""),
                    Observation("502", "0"),
                    Observation("486", "1"),
                    Observation("0", "abc"),
                    Observation(None, None),
                    Observation("487", "10004"),
                ],
                MEDIA_SUMMARY: [Observation("400", "8510"), Observation("200", None)],
            },
            cursor=1,
        ),
        0.1,
    )
    rows = info_rows(exporter)
    for family in exporter.snapshot().families:
        view = {"acs_call_ends": "call-end", "acs_call_automation_media_results": "call-automation"}
        if family.name in view:
            for labels, _ in family.samples:
                assert (view[family.name], labels[0], labels[1]) in rows
    bad_gateway = rows[("call-end", "502", "0")]
    assert bad_gateway[4].startswith("Undocumented pair 502/0. Code 502: Bad gateway")
    assert "Success" not in bad_gateway[4]
    assert bad_gateway[5] == "Run acs-exporter explain 502 0."
    assert rows[("call-end", "502", "none")][6].startswith("https://")  # the code's row
    silence = rows[("call-automation", "400", "8510")]
    assert silence[2] == "ExpectedError"
    assert "Initial Silence Timeout Reached" in silence[4]


def test_the_rows_are_reused_until_a_new_pair_is_observed() -> None:
    exporter = Exporter(catalog=CATALOG, source_names=["a"], max_series=100)

    def info() -> object:
        (family,) = [f for f in exporter.snapshot().families if f.name == "acs_end_reason_info"]
        return family.samples

    exporter.complete_poll("a", Batch({CALL_SUMMARY: [Observation("0", "0")]}, cursor=1), 0.1)
    first = info()
    text = render_text(exporter.snapshot())
    exporter.complete_poll("a", Batch({CALL_SUMMARY: [Observation("0", "0", n=5)]}, cursor=2), 0.1)
    assert info() is first  # same pairs: same rows, same rendered text
    assert render_text(exporter.snapshot()).count("acs_end_reason_info{") == text.count(
        "acs_end_reason_info{"
    )
    exporter.complete_poll("a", Batch({CALL_SUMMARY: [Observation("502", "7")]}, cursor=3), 0.1)
    assert info() is not first
    assert 'code="502",doc_url="",domain="call-end"' in render_text(exporter.snapshot())


def test_pairs_folded_by_the_series_guard_find_their_row() -> None:
    """Past max_series the guard folds a new subcode of a known code into `other` alone
    (guard.py): that (code, other) pair is served, so it needs its info row too."""
    exporter = Exporter(catalog=CATALOG, source_names=["a"], max_series=2)
    known = [Observation("487", "10003"), Observation("0", "0")]
    exporter.complete_poll("a", Batch({CALL_SUMMARY: known}, cursor=1), 0.1)
    new = [Observation("487", str(subcode)) for subcode in range(70000, 70050)]
    exporter.complete_poll("a", Batch({CALL_SUMMARY: new}, cursor=2), 0.1)
    rows = info_rows(exporter)
    served = {
        (labels[0], labels[1])
        for family in exporter.snapshot().families
        if family.name == "acs_call_ends"
        for labels, _ in family.samples
    }
    assert ("487", "other") in served
    for code, subcode in served:
        assert ("call-end", code, subcode) in rows
    assert "folded together" in rows[("call-end", "487", "other")][4]
