"""Call Automation categories derived from the page (tools/catalog/call_automation.yaml).

The page gives no category column; the builder derives one per row from its mitigation text,
the code class and the outcomes it treats as normal, and writes the reasoning into the entry.
"""

from __future__ import annotations

import pytest

from acs_exporter.catalog import Category, Domain, Provenance, load_catalog

CATALOG = load_catalog()
CA = Domain.CALL_AUTOMATION


def test_every_call_automation_pair_has_a_category_and_its_reasoning() -> None:
    pairs = [e for e in CATALOG.entries if e.domain is CA]
    assert len(pairs) == 14
    for entry in pairs:
        assert entry.category is not None, entry.key
        assert "derived by us" in entry.notes or "Expected Error" in entry.notes, entry.key


def test_generic_subcodes_keep_unknown_only_with_a_stated_reason() -> None:
    subcodes = [e for e in CATALOG.entries if e.domain is Domain.GENERIC and e.code is None]
    assert len(subcodes) == 118
    undecided = [e for e in subcodes if e.category is None]
    assert all("No category derived" in e.notes for e in undecided)
    assert all("derived by us" in e.notes for e in subcodes if e.category is not None)
    # Nothing supports a choice for only a few of them.
    assert len(undecided) <= 10


@pytest.mark.parametrize(
    ("code", "subcode", "category", "provenance"),
    [
        (400, 8510, Category.EXPECTED_ERROR, Provenance.SUBCODE_RULE),  # initial silence
        (400, 8532, Category.EXPECTED_ERROR, Provenance.SUBCODE_RULE),  # inter-digit timeout
        (400, 8547, Category.EXPECTED_ERROR, Provenance.SUBCODE_RULE),  # speech not matched
        (486, 8539, Category.EXPECTED_ERROR, Provenance.SUBCODE_RULE),  # callee busy
        (400, 8535, Category.UNEXPECTED_CLIENT_ERROR, Provenance.SUBCODE_RULE),  # bad file
        (429, 8516, Category.UNEXPECTED_CLIENT_ERROR, Provenance.SUBCODE_RULE),  # throttled
        (400, 8565, Category.UNEXPECTED_SERVER_ERROR, Provenance.SUBCODE_RULE),  # AI services
        (400, 8523, Category.UNEXPECTED_CLIENT_ERROR, Provenance.DOCUMENTED),  # the pair row
        (404, 8522, Category.EXPECTED_ERROR, Provenance.DOCUMENTED),
        (405, 8520, Category.EXPECTED_ERROR, Provenance.DOCUMENTED),
        (200, 8514, Category.SUCCESS, Provenance.CODE_CLASS),  # the code decides first
        (500, 8511, Category.UNEXPECTED_SERVER_ERROR, Provenance.CODE_RULE),
        (400, 9999, Category.UNKNOWN, Provenance.UNKNOWN),  # "Unknown": nothing to go on
        (400, 8513, Category.UNKNOWN, Provenance.UNKNOWN),
    ],
)
def test_media_results_resolve_from_the_derived_categories(
    code: int, subcode: int, category: Category, provenance: Provenance
) -> None:
    resolution = CATALOG.resolve(code, subcode, None, CA)
    assert (resolution.category, resolution.provenance) == (category, provenance)
    assert resolution.reason


@pytest.mark.parametrize("subcode", [8510, 8539, 8565, 7000])
def test_generic_subcode_categories_never_decide_a_call_end(subcode: int) -> None:
    resolution = CATALOG.resolve(499, subcode)
    assert (resolution.category, resolution.provenance) == (Category.UNKNOWN, Provenance.UNKNOWN)


def test_the_documented_media_outcomes_are_mostly_not_unknown() -> None:
    """The Call Automation rows under a 4xx code: before the derivation all were Unknown."""
    subcodes = [e.subcode for e in CATALOG.entries if e.domain is Domain.GENERIC and e.code is None]
    unknown = [
        s for s in subcodes if CATALOG.resolve(400, s, None, CA).category is Category.UNKNOWN
    ]
    assert len(unknown) <= 10, unknown


def test_explain_shows_the_generic_subcode_that_decided() -> None:
    resolution = CATALOG.resolve(400, 8510, None, CA)
    assert resolution.entry is not None
    assert (resolution.entry.code, resolution.entry.subcode) == (None, 8510)
    assert "derived by us" in resolution.entry.notes
    assert any(e.code == 400 and e.subcode is None for e in resolution.related)
