"""The Python side of the breakdown rules gives the shared table's labels (the KQL side is run
on the same table in tests/sources/loganalytics/test_breakdowns.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acs_exporter.definitions.breakdowns import (
    OS_FAMILIES,
    OS_FAMILY,
    RESOURCE,
    SDK_RELEASE,
    Normalisation,
)
from acs_exporter.definitions.tables import CALL_SUMMARY, EXTRA_LABELS, MEDIA_SUMMARY
from support.breakdown_cases import CASES

RULES: dict[str, Normalisation] = {
    "resource": RESOURCE,
    "sdk_version": SDK_RELEASE,
    "os": OS_FAMILY,
}


@pytest.mark.parametrize(("label", "raw", "expected"), CASES)
def test_each_shared_case_gets_its_label_in_python(
    label: str, raw: str | None, expected: str
) -> None:
    assert RULES[label].python(raw) == expected


@pytest.mark.parametrize("label", sorted(RULES))
@given(raw=st.one_of(st.none(), st.text(max_size=40)))
def test_a_label_value_is_never_empty_and_is_its_own_label(label: str, raw: str | None) -> None:
    """Any input: a label value, never ''; and a label value read again is itself (the
    aggregated query's output reaches the same code paths as raw values)."""
    value = RULES[label].python(raw)
    assert value
    assert RULES[label].python(value) == value
    if label == "os":
        assert value in OS_FAMILIES


def test_the_labels_are_opt_in_extra_labels_and_media_gets_resource() -> None:
    assert {"resource", "sdk_version", "os"} <= set(EXTRA_LABELS)
    assert len(EXTRA_LABELS) == len(set(EXTRA_LABELS))
    assert [d.label for d in MEDIA_SUMMARY.optional] == ["resource"]
    for label, rule in RULES.items():
        assert CALL_SUMMARY.dimension(label).normalise is rule
    assert MEDIA_SUMMARY.dimension("resource").normalise is RESOURCE
