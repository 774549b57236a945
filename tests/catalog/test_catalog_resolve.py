"""The resolution order, step by step, on the shipped data and on hand-made catalogs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acs_exporter.catalog import (
    Catalog,
    Category,
    Domain,
    Entry,
    MalformedCode,
    Provenance,
    Resolution,
    load_catalog,
)
from acs_exporter.catalog.resolver import normalise_category
from acs_exporter.pipeline.aggregate import Resolver

CATALOG = load_catalog()
UNSEEN = 987_654  # a subcode no page lists


def _entry(
    code: int | None, subcode: int | None, category: Category | None, domain: Domain
) -> Entry:
    return Entry(code, subcode, category, f"message {code}/{subcode}", "advice", domain, "src")


# -- step 1: the documented (code, subcode) row ---------------------------------------------


@pytest.mark.parametrize(
    ("code", "subcode", "category"),
    [
        (0, 0, Category.SUCCESS),
        (487, 0, Category.SUCCESS),
        (487, 10004, Category.EXPECTED_ERROR),
        (410, 3112, Category.EXPECTED_ERROR),
        (410, 3100, Category.UNEXPECTED_CLIENT_ERROR),  # the page's "UnxpectedClientError"
        (496, 7, Category.EXPECTED_ERROR),  # the row beats the 496 code rule
    ],
)
def test_a_documented_row_decides(code: int, subcode: int, category: Category) -> None:
    resolution = CATALOG.resolve(code, subcode)
    assert (resolution.category, resolution.provenance) == (category, Provenance.DOCUMENTED)
    assert resolution.entry is not None
    assert (resolution.entry.code, resolution.entry.subcode) == (code, subcode)


def test_a_documented_row_beats_the_service_category() -> None:
    resolution = CATALOG.resolve(410, 3112, "UnexpectedServerError")
    assert resolution.category is Category.EXPECTED_ERROR
    assert resolution.provenance is Provenance.DOCUMENTED


def test_a_row_of_another_domain_is_used_and_named_when_the_requested_one_has_none() -> None:
    resolution = CATALOG.resolve(500, 40216)  # a Calling SDK row, asked as a call end
    assert resolution.category is Category.UNEXPECTED_CLIENT_ERROR
    assert resolution.provenance is Provenance.DOCUMENTED
    assert resolution.entry is not None
    assert resolution.entry.domain is Domain.CALLING_SDK
    assert "calling-sdk" in resolution.reason


def test_the_requested_domain_is_read_first() -> None:
    catalog = Catalog(
        [
            _entry(400, 1, Category.EXPECTED_ERROR, Domain.CALL_END),
            _entry(400, 1, Category.UNEXPECTED_CLIENT_ERROR, Domain.CALLING_SDK),
        ]
    )
    assert catalog.resolve(400, 1).category is Category.EXPECTED_ERROR
    sdk = catalog.resolve(400, 1, domain=Domain.CALLING_SDK)
    assert sdk.category is Category.UNEXPECTED_CLIENT_ERROR


# An override row without a category (the shipped Call Automation rows now all have one).
BARE = Catalog([_entry(400, 8523, None, Domain.CALL_AUTOMATION)])


def test_a_row_without_a_category_describes_but_does_not_decide() -> None:
    resolution = BARE.resolve(400, 8523, domain=Domain.CALL_AUTOMATION)
    assert resolution.category is Category.UNKNOWN
    assert resolution.entry is not None
    assert resolution.entry.domain is Domain.CALL_AUTOMATION
    assert "gives no category" in resolution.reason


# -- step 2: the category the service logged -------------------------------------------------


@pytest.mark.parametrize(
    ("logged", "category"),
    [
        ("UnexpectedServerError", Category.UNEXPECTED_SERVER_ERROR),
        (" unexpectedservererror ", Category.UNEXPECTED_SERVER_ERROR),
        ("Unexpected_Client_Error", Category.UNEXPECTED_CLIENT_ERROR),
        ("Unexpected Client Error", Category.UNEXPECTED_CLIENT_ERROR),
        ("UnxpectedClientError", Category.UNEXPECTED_CLIENT_ERROR),
        ("EXPECTEDERROR", Category.EXPECTED_ERROR),
        ("success", Category.SUCCESS),
    ],
)
def test_a_valid_service_category_decides_when_no_row_does(logged: str, category: Category) -> None:
    resolution = CATALOG.resolve(486, UNSEEN, logged)
    assert (resolution.category, resolution.provenance) == (category, Provenance.SERVICE)
    assert repr(logged) in resolution.reason


def test_the_service_category_beats_a_code_rule() -> None:
    resolution = CATALOG.resolve(503, UNSEEN, "ExpectedError")
    assert (resolution.category, resolution.provenance) == (
        Category.EXPECTED_ERROR,
        Provenance.SERVICE,
    )


def test_the_service_category_decides_for_a_row_without_one() -> None:
    resolution = BARE.resolve(400, 8523, "UnexpectedClientError", Domain.CALL_AUTOMATION)
    assert resolution.provenance is Provenance.SERVICE
    assert resolution.entry is not None
    assert resolution.entry.subcode == 8523


@pytest.mark.parametrize("logged", ["", "   ", "Unknown", "Failure", "Unexpected", "null"])
def test_an_invalid_service_category_is_ignored(logged: str) -> None:
    resolution = CATALOG.resolve(503, UNSEEN, logged)
    assert resolution.provenance is Provenance.CODE_RULE
    assert resolution.category is Category.UNEXPECTED_SERVER_ERROR
    unknown = CATALOG.resolve(486, UNSEEN, logged)
    assert unknown.category is Category.UNKNOWN


def test_normalise_category_refuses_non_strings() -> None:
    assert normalise_category(None) is None
    assert normalise_category(3) is None


# -- step 3: the rule for the code alone -----------------------------------------------------

RULES = {
    404: Category.EXPECTED_ERROR,
    408: Category.UNEXPECTED_CLIENT_ERROR,
    410: Category.UNEXPECTED_CLIENT_ERROR,
    430: Category.UNEXPECTED_CLIENT_ERROR,
    480: Category.EXPECTED_ERROR,
    481: Category.UNEXPECTED_SERVER_ERROR,
    487: Category.EXPECTED_ERROR,
    490: Category.UNEXPECTED_CLIENT_ERROR,
    491: Category.UNEXPECTED_CLIENT_ERROR,
    496: Category.UNEXPECTED_CLIENT_ERROR,
    497: Category.UNEXPECTED_CLIENT_ERROR,
    498: Category.UNEXPECTED_CLIENT_ERROR,
    500: Category.UNEXPECTED_SERVER_ERROR,
    503: Category.UNEXPECTED_SERVER_ERROR,
    504: Category.UNEXPECTED_SERVER_ERROR,
    600: Category.EXPECTED_ERROR,
    603: Category.EXPECTED_ERROR,
    604: Category.EXPECTED_ERROR,
    606: Category.EXPECTED_ERROR,
}


def test_the_shipped_rules_are_exactly_the_documented_code_only_descriptions() -> None:
    general = {rule.code: rule.category for rule in CATALOG.rules if not rule.without_subcode}
    assert general == RULES
    described = {
        e.code for e in CATALOG.entries if e.domain is Domain.CALL_END and e.subcode is None
    }
    assert described == set(RULES)


@pytest.mark.parametrize(("code", "category"), sorted(RULES.items()))
@pytest.mark.parametrize("subcode", [UNSEEN, None, "12345"])
def test_a_code_rule_decides_for_an_undocumented_subcode(
    code: int, category: Category, subcode: object
) -> None:
    resolution = CATALOG.resolve(code, subcode)
    assert (resolution.category, resolution.provenance) == (category, Provenance.CODE_RULE)
    assert resolution.entry is not None
    assert resolution.entry.code == code
    assert resolution.reason


@pytest.mark.parametrize("code", [481, 500, 503, 504])
@pytest.mark.parametrize("domain", list(Domain))
def test_infrastructure_codes_page_as_server_errors_in_every_domain(
    code: int, domain: Domain
) -> None:
    """The UnexpectedServerError alert rests on this: no row carries that category."""
    resolution = CATALOG.resolve(str(code), str(UNSEEN), None, domain)
    assert resolution.category is Category.UNEXPECTED_SERVER_ERROR
    assert resolution.provenance is Provenance.CODE_RULE


def test_no_documented_row_carries_unexpected_server_error() -> None:
    """Why steps 3 and 4 matter: the pages document the category on no row. Only generic
    subcodes carry it, derived by us, and those never decide for a call end (step 5)."""
    carrying = [e for e in CATALOG.entries if e.category is Category.UNEXPECTED_SERVER_ERROR]
    assert carrying
    for entry in carrying:
        assert (entry.code, entry.domain) == (None, Domain.GENERIC)
        assert "derived by us" in entry.notes
        call_end = CATALOG.resolve(499, entry.subcode)
        assert call_end.provenance is not Provenance.SUBCODE_RULE


def test_the_description_the_rule_rests_on_is_shown_first() -> None:
    resolution = CATALOG.resolve(500, 8518)  # 8518 is a generic subcode ("Call Exception")
    assert resolution.entry is not None
    assert (resolution.entry.code, resolution.entry.subcode) == (
        500,
        None,
    )
    assert any(e.subcode == 8518 and e.code is None for e in resolution.related)


# -- step 4: the class of the code -----------------------------------------------------------


@pytest.mark.parametrize(("code", "subcode"), [(200, 0), (204, None), (299, UNSEEN)])
def test_2xx_is_success_by_class(code: int, subcode: int | None) -> None:
    resolution = CATALOG.resolve(code, subcode)
    assert (resolution.category, resolution.provenance) == (Category.SUCCESS, Provenance.CODE_CLASS)


@pytest.mark.parametrize("code", [501, 502, 505, 599])
def test_5xx_without_a_rule_is_a_server_error_by_class(code: int) -> None:
    resolution = CATALOG.resolve(code, UNSEEN)
    assert resolution.category is Category.UNEXPECTED_SERVER_ERROR
    assert resolution.provenance is Provenance.CODE_CLASS


# -- step 5: unknown, never silently success -------------------------------------------------


@pytest.mark.parametrize(
    ("code", "subcode"),
    [
        (0, UNSEEN),
        (0, 1),
        (486, 1),
        (486, None),
        (601, 0),
        (100, 0),
        (300, 0),
        (999, 0),
        (1000, None),
    ],
)
def test_anything_else_is_unknown(code: int, subcode: int | None) -> None:
    resolution = CATALOG.resolve(code, subcode)
    assert (resolution.category, resolution.provenance) == (Category.UNKNOWN, Provenance.UNKNOWN)
    assert "no rule" in resolution.reason


@given(code=st.integers(min_value=0, max_value=10**6), subcode=st.integers(min_value=0))
def test_an_undocumented_pair_is_success_only_for_2xx(code: int, subcode: int) -> None:
    if any(e.category for e in CATALOG.find(code, subcode)):
        return
    resolution = CATALOG.resolve(code, subcode)
    assert (resolution.category is Category.SUCCESS) == (200 <= code <= 299)


def test_an_empty_catalog_still_knows_the_code_classes() -> None:
    assert Catalog([]).resolve(503, 1).category is Category.UNEXPECTED_SERVER_ERROR
    assert Catalog([]).resolve(487, 0).category is Category.UNKNOWN


# -- junk input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "subcode"),
    [
        (None, 0),
        ("", 0),
        ("  ", 0),
        (-1, 0),
        ("-1", 0),
        ("abc", 0),
        ("4 87", 0),
        ("487abc", 0),
        (True, 0),
        (False, 0),
        (4.5, 0),
        (487.0, 0),
        ("487.0", 0),
        ("0x1F", 0),
        ("٤٨٧", 0),  # Arabic-Indic digits: decimal to Python, not to ACS
        ("9" * 40, 0),
        (b"487", 0),
        ([487], 0),
        (487, "x"),
        (487, -3),
        (487, False),
        (487, 1.5),
    ],
)
def test_junk_codes_and_subcodes_are_malformed(code: object, subcode: object) -> None:
    with pytest.raises(MalformedCode):
        CATALOG.resolve(code, subcode)


def test_remembered_answers_never_leak_to_bools_or_floats() -> None:
    catalog = load_catalog()
    assert catalog.resolve(1, 0).code == 1
    assert catalog.resolve(487, 0).code == 487
    for code, subcode in [(True, 0), (1.0, 0), (487.0, 0), (487, 0.0), (487, False)]:
        with pytest.raises(MalformedCode):
            catalog.resolve(code, subcode)


def test_strings_with_blanks_resolve_like_ints() -> None:
    assert CATALOG.resolve(" 487 ", "10004\n") == CATALOG.resolve(487, 10004)
    assert CATALOG.resolve("0", " 0 ").category is Category.SUCCESS


# -- one cache: the daemon's Resolver, per distinct raw key ----------------------------------


class CountingCatalog(Catalog):
    """The shipped catalog, counting how often a resolution is computed."""

    def __init__(self) -> None:
        super().__init__(CATALOG.entries, rules=CATALOG.rules)
        self.computed = 0

    def resolve(
        self,
        code: object,
        subcode: object,
        service_category: str | None = None,
        domain: Domain = Domain.CALL_END,
    ) -> Resolution:
        self.computed += 1
        return super().resolve(code, subcode, service_category, domain)

    def resolve_code_alone(
        self, code: object, service_category: str | None = None, domain: Domain = Domain.CALL_END
    ) -> Resolution:
        self.computed += 1
        return super().resolve_code_alone(code, service_category, domain)


@pytest.mark.parametrize(
    ("code", "subcode", "service"),
    [
        ("0", "0", "UnexpectedServerError"),  # documented Success: a disagreement
        ("0", "0", "Success"),  # documented, and agreeing
        ("503", "77", "ExpectedError"),  # undocumented: the service decides
        ("503", "77", None),
        ("487", None, "ExpectedError"),
        ("487", "abc", "ExpectedError"),  # a junk subcode: the code alone
    ],
)
def test_a_new_raw_key_is_resolved_once_verdict_included_then_remembered(
    code: str, subcode: str | None, service: str | None
) -> None:
    catalog = CountingCatalog()
    resolver = Resolver(catalog)
    first = resolver.resolve(code, subcode, service, Domain.CALL_END)
    assert catalog.computed == 1  # the documented row's verdict is part of that one resolution
    assert resolver.resolve(code, subcode, service, Domain.CALL_END) is first
    assert catalog.computed == 1


def test_the_verdict_is_the_documented_rows_against_the_service() -> None:
    resolver = Resolver(CATALOG)
    disagreeing = resolver.resolve("0", "0", "UnexpectedServerError", Domain.CALL_END)
    assert disagreeing.category == "Success"
    assert disagreeing.disagreement == ("Success", "UnexpectedServerError")
    said = Resolver(CATALOG, "service").resolve("0", "0", "UnexpectedServerError", Domain.CALL_END)
    assert said.category == "UnexpectedServerError"
    assert said.disagreement == ("Success", "UnexpectedServerError")
    # Undocumented pairs take the service's word: nothing to disagree with.
    assert (
        resolver.resolve("503", str(UNSEEN), "ExpectedError", Domain.CALL_END).disagreement is None
    )
    assert resolver.resolve("0", "0", "Success", Domain.CALL_END).disagreement is None


def test_remembered_label_values_never_leak_to_bools_or_floats() -> None:
    resolver = Resolver(CATALOG)
    assert resolver.resolve(1, 0, None, Domain.CALL_END).code == "1"
    assert resolver.resolve(487, 0, None, Domain.CALL_END).code == "487"
    for code, subcode in [(True, 0), (1.0, 0), (487.0, 0)]:
        assert resolver.resolve(code, subcode, None, Domain.CALL_END).code == "malformed"
    for code, subcode in [(487, 0.0), (487, False)]:
        assert resolver.resolve(code, subcode, None, Domain.CALL_END).subcode == "malformed"


def test_the_catalog_itself_keeps_no_second_cache() -> None:
    catalog = Catalog(CATALOG.entries, rules=CATALOG.rules)
    assert catalog.resolve("503", "77") == catalog.resolve("503", "77")
    assert not [name for name in vars(catalog) if "memo" in name or "cache" in name]


# -- what the daemon reads for acs_end_reason_info ------------------------------------------


def test_entries_carry_what_the_info_metric_needs() -> None:
    for entry in CATALOG.entries:
        assert isinstance(entry.domain, Domain)
        assert entry.category is None or isinstance(entry.category, Category)
        assert entry.code is not None or entry.subcode is not None
        assert entry.message
        assert entry.advice
        assert entry.source
