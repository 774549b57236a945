"""Data as it arrives: missing subcodes, blanks, other casings, and the two opinions on a record.

The stance (docs/catalog.md "Missing subcodes and odd spellings"): a subcode that is null,
absent, empty or blank is *no subcode*, never malformed; it is resolved by the service's
ResultCategory when the record has a valid one, then by the code's rule (code 0 alone is
Success), then by the code's class.
"""

from __future__ import annotations

import pytest

from acs_exporter.catalog import (
    Category,
    Domain,
    MalformedCode,
    Provenance,
    is_missing,
    load_catalog,
    parse_subcode,
)

CATALOG = load_catalog()
MISSING = [None, "", " ", "  \t", "\n"]
UNSEEN = 987_654


@pytest.mark.parametrize("subcode", MISSING)
def test_a_missing_subcode_is_no_subcode_never_malformed(subcode: object) -> None:
    assert is_missing(subcode)
    assert parse_subcode(subcode) is None
    resolution = CATALOG.resolve("0", subcode)
    assert resolution.subcode is None
    assert resolution == CATALOG.resolve(0, None)


@pytest.mark.parametrize("subcode", MISSING)
@pytest.mark.parametrize(
    ("service", "category"),
    [
        ("Success", Category.SUCCESS),
        ("success", Category.SUCCESS),
        (" Success ", Category.SUCCESS),
        ("ExpectedError", Category.EXPECTED_ERROR),
        ("unexpectedServerError", Category.UNEXPECTED_SERVER_ERROR),
        ("UNEXPECTEDCLIENTERROR", Category.UNEXPECTED_CLIENT_ERROR),
    ],
)
def test_code_0_without_subcode_takes_the_services_category_in_any_casing(
    subcode: object, service: str, category: Category
) -> None:
    resolution = CATALOG.resolve("0", subcode, service)
    assert (resolution.category, resolution.provenance) == (category, Provenance.SERVICE)
    assert resolution.service_category is category


@pytest.mark.parametrize("service", [None, "", "Unknown", "n/a"])
def test_code_0_with_neither_subcode_nor_category_is_success_by_its_own_rule(
    service: str | None,
) -> None:
    resolution = CATALOG.resolve("0", "", service)
    assert (resolution.category, resolution.provenance) == (Category.SUCCESS, Provenance.CODE_RULE)
    assert "eight of the ten documented code-0 rows are Success" in resolution.reason


@pytest.mark.parametrize("subcode", [UNSEEN, "1", "12345"])
def test_the_code_0_rule_never_speaks_for_an_unlisted_subcode(subcode: object) -> None:
    """Code 0 has ExpectedError rows too: an unlisted 0/x is still Unknown."""
    resolution = CATALOG.resolve(0, subcode)
    assert (resolution.category, resolution.provenance) == (Category.UNKNOWN, Provenance.UNKNOWN)


@pytest.mark.parametrize("subcode", MISSING)
def test_500_without_subcode_is_a_server_error(subcode: object) -> None:
    resolution = CATALOG.resolve(" 500 ", subcode)
    assert resolution.category is Category.UNEXPECTED_SERVER_ERROR
    assert resolution.provenance is Provenance.CODE_RULE


def test_the_500_and_487_rules_say_why_they_differ_from_the_documented_rows() -> None:
    rules = {rule.code: rule for rule in CATALOG.rules if not rule.without_subcode}
    rows_500 = {e.category for e in CATALOG.entries if e.code == 500 and e.subcode is not None}
    assert rows_500 == {Category.UNEXPECTED_CLIENT_ERROR}
    assert rules[500].category is Category.UNEXPECTED_SERVER_ERROR
    assert "Calling SDK client errors" in rules[500].reason
    rows_487 = [e.category for e in CATALOG.entries if e.code == 487 and e.subcode is not None]
    assert rows_487.count(Category.SUCCESS) == 4
    assert len(rows_487) == 5
    assert rules[487].category is Category.EXPECTED_ERROR
    assert "Four of the five documented 487 rows" in rules[487].reason
    # The documented rows still win for their own pairs.
    assert CATALOG.resolve(487, 0).category is Category.SUCCESS
    assert CATALOG.resolve(500, 40216).category is Category.UNEXPECTED_CLIENT_ERROR


@pytest.mark.parametrize(
    ("code", "subcode"), [(" 487", "10004 "), ("\t487\n", " 10004"), (487, "010004")]
)
def test_blanks_around_codes_are_tolerated(code: object, subcode: object) -> None:
    resolution = CATALOG.resolve(code, subcode)
    assert (resolution.code, resolution.subcode) == (487, 10004)
    assert resolution.provenance is Provenance.DOCUMENTED


@pytest.mark.parametrize("subcode", ["abc", "-1", "4 5", "1.5", True])
def test_a_junk_subcode_is_still_malformed(subcode: object) -> None:
    with pytest.raises(MalformedCode):
        CATALOG.resolve(487, subcode)


def test_both_opinions_are_exposed_for_aggregation_to_choose() -> None:
    # Documented row: the catalog's word is the row; the service's is kept beside it.
    documented = CATALOG.resolve(0, 0, "ExpectedError")
    assert documented.category is Category.SUCCESS
    assert documented.catalog_category is Category.SUCCESS
    assert documented.service_category is Category.EXPECTED_ERROR
    # Undocumented pair: the service decides `category`, the catalog alone says Unknown.
    undocumented = CATALOG.resolve(486, 1, "unexpectedClientError")
    assert undocumented.category is Category.UNEXPECTED_CLIENT_ERROR
    assert undocumented.catalog_category is Category.UNKNOWN
    assert undocumented.service_category is Category.UNEXPECTED_CLIENT_ERROR
    # No subcode: the service's category is the catalog's own input (the rule above).
    bare = CATALOG.resolve(0, "", "ExpectedError")
    assert bare.catalog_category is Category.EXPECTED_ERROR
    # Nothing logged, or junk: no service opinion.
    assert CATALOG.resolve(0, 0).service_category is None
    assert CATALOG.resolve(0, 0, "Unknown").service_category is None


def test_an_undocumented_pair_is_described_by_its_code_not_the_generic_subcode() -> None:
    """502/0: the generic subcode 0 reads "Success"; the pair is a bad gateway."""
    resolution = CATALOG.resolve(502, 0)
    assert resolution.category is Category.UNEXPECTED_SERVER_ERROR
    assert not resolution.documented
    assert resolution.entry is not None
    assert (resolution.entry.code, resolution.entry.subcode) == (502, None)
    assert "Success" not in resolution.entry.message
    assert any(e.code is None and e.subcode == 0 for e in resolution.related)


@pytest.mark.parametrize("domain", list(Domain))
def test_every_domain_reads_a_missing_subcode_the_same_way(domain: Domain) -> None:
    assert CATALOG.resolve(503, "", None, domain) == CATALOG.resolve(503, None, None, domain)
