"""Which verdict sets `category` (metrics.category_source), and every disagreement counted.

The shipped catalog documents 487/10003 ("accepted on another endpoint") as Success; ACS has
been seen logging it as UnexpectedServerError. The records below mix agreeing, disagreeing,
undocumented, malformed and empty-category call ends, and the exact counts and labels are
asserted for each setting, through the real Exporter and its text exposition.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from acs_exporter.catalog import load_catalog
from acs_exporter.config import ConfigError, load_settings
from acs_exporter.definitions.tables import CALL_SUMMARY, LabelPlan
from acs_exporter.exposition.text import render_text
from acs_exporter.pipeline.aggregate import CategorySource
from acs_exporter.pipeline.checkpoint import Checkpoint
from acs_exporter.pipeline.daemon import Exporter
from acs_exporter.sources.base import Batch, Observation
from support.daemon_helpers import samples

DISAGREEMENTS = "acs_call_end_category_disagreements_total"

RECORDS = [
    # documented Success, the service says UnexpectedServerError: 7 disagreements
    Observation("487", "10003", "UnexpectedServerError", (), 5),
    Observation(" 487", "10003", "unexpected_server_error", (), 2),  # same pair, spelt loosely
    # documented ExpectedError, the service says UnexpectedClientError: 3 disagreements
    Observation("487", "10004", "UnexpectedClientError", (), 3),
    # agreement, empty and invalid service categories: never a disagreement
    Observation("487", "10003", "Success", (), 11),
    Observation("487", "10003", "", (), 4),
    Observation("487", "10003", None, (), 1),
    Observation("487", "10003", "Unknown", (), 2),
    # undocumented pair: the service's category is the answer, nothing to disagree with
    Observation("452", "45201", "UnexpectedServerError", (), 6),
    # junk subcode: not a documented pair either (its category is the catalog's business)
    Observation("487", "N/A", "UnexpectedServerError", (), 1),
]


def run(category_source: CategorySource, tmp_path: Path | None = None) -> Exporter:
    checkpoint = Checkpoint(tmp_path / "state.json", LabelPlan()) if tmp_path else None
    exporter = Exporter(
        catalog=load_catalog(),
        source_names=["sim"],
        category_source=category_source,
        checkpoint=checkpoint,
    )
    batch = Batch({CALL_SUMMARY: RECORDS}, cursor=1, watermark=datetime.now(UTC))
    exporter.complete_poll("sim", batch, 0.1)
    return exporter


def call_ends(exporter: Exporter) -> dict[tuple[str, str, str], float]:
    """Call ends by (code, subcode, category), malformed ones left out."""
    text = render_text(exporter.snapshot())
    out: dict[tuple[str, str, str], float] = {}
    for labels, value in samples(text, "acs_call_ends_total").items():
        d = dict(labels)
        if d["subcode"] == "malformed":
            continue
        key = (d["code"], d["subcode"], d["category"])
        out[key] = out.get(key, 0.0) + value
    return out


def disagreements(exporter: Exporter) -> dict[tuple[tuple[str, str], ...], float]:
    return samples(render_text(exporter.snapshot()), DISAGREEMENTS)


EXPECTED_DISAGREEMENTS = {
    (
        ("catalog_category", "Success"),
        ("code", "487"),
        ("service_category", "UnexpectedServerError"),
        ("subcode", "10003"),
    ): 7.0,
    (
        ("catalog_category", "ExpectedError"),
        ("code", "487"),
        ("service_category", "UnexpectedClientError"),
        ("subcode", "10004"),
    ): 3.0,
}


def test_catalog_decides_by_default_and_every_disagreement_is_counted() -> None:
    exporter = run("catalog")
    assert disagreements(exporter) == EXPECTED_DISAGREEMENTS
    assert call_ends(exporter) == {
        ("487", "10003", "Success"): 5 + 2 + 11 + 4 + 1 + 2,
        ("487", "10004", "ExpectedError"): 3,
        ("452", "45201", "UnexpectedServerError"): 6,
    }


def test_service_decides_when_configured_and_the_counter_is_the_same() -> None:
    exporter = run("service")
    assert disagreements(exporter) == EXPECTED_DISAGREEMENTS
    assert call_ends(exporter) == {
        ("487", "10003", "UnexpectedServerError"): 7,
        # agreement, empty, missing and invalid service categories: the catalog's row
        ("487", "10003", "Success"): 11 + 4 + 1 + 2,
        ("487", "10004", "UnexpectedClientError"): 3,
        ("452", "45201", "UnexpectedServerError"): 6,
    }


def test_the_counter_exists_empty_before_any_disagreement() -> None:
    exporter = Exporter(catalog=load_catalog(), source_names=["sim"])
    text = render_text(exporter.snapshot())
    assert f"# TYPE {DISAGREEMENTS} counter" in text
    assert samples(text, DISAGREEMENTS) == {}


def test_disagreements_carry_the_source_label_with_several_sources() -> None:
    exporter = Exporter(catalog=load_catalog(), source_names=["a", "b"])
    batch = Batch({CALL_SUMMARY: [Observation("487", "10003", "UnexpectedServerError", (), 2)]})
    exporter.complete_poll("a", batch, 0.1)
    exporter.complete_poll("b", batch, 0.1)
    found = disagreements(exporter)
    assert {dict(k)["source"] for k in found} == {"a", "b"}
    assert set(found.values()) == {2.0}


def test_disagreements_survive_a_restart_from_the_checkpoint(tmp_path: Path) -> None:
    first = run("catalog", tmp_path)
    first.close()
    checkpoint = Checkpoint(tmp_path / "state.json", LabelPlan())
    restarted = Exporter(catalog=load_catalog(), source_names=["sim"], checkpoint=checkpoint)
    assert disagreements(restarted) == EXPECTED_DISAGREEMENTS


def test_an_old_checkpoint_without_disagreements_still_loads(tmp_path: Path) -> None:
    exporter = run("catalog")
    data = exporter.state.to_data(LabelPlan())
    del data["disagreements"]
    from acs_exporter.pipeline.state import State

    state = State.from_data(data, LabelPlan())
    assert state.disagreements == {}
    assert state.series == exporter.state.series


def test_category_source_is_validated_with_the_key_and_value(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("metrics:\n  category_source: both\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(config)
    assert "metrics.category_source" in str(error.value)
    # the key and what it accepts; a text value is never echoed (it could be a secret)
    assert "metrics.category_source: Input should be 'catalog' or 'service'" in str(error.value)
    config.write_text("metrics:\n  category_source: service\n", encoding="utf-8")
    assert load_settings(config).metrics.category_source == "service"


def test_disagreement_series_are_bounded_by_the_catalog_not_by_the_data() -> None:
    """Junk and undocumented pairs never make a disagreement series, whatever the service
    says; documented pairs make at most three each (the other valid categories)."""
    catalog = load_catalog()
    documented = [
        (str(e.code), str(e.subcode))
        for e in catalog.entries
        if e.domain.value == "call-end"
        and e.code is not None
        and e.subcode is not None
        and e.category is not None
    ]
    categories = ["Success", "ExpectedError", "UnexpectedClientError", "UnexpectedServerError"]
    junk = [
        Observation(str(code), str(90000 + code), category, (), 1)
        for code in range(400, 700)
        for category in categories
    ]
    junk += [Observation("487", f"x{i}", "UnexpectedServerError", (), 1) for i in range(50)]
    real = [Observation(c, s, category, (), 1) for c, s in documented for category in categories]
    exporter = Exporter(catalog=catalog, source_names=["sim"])
    exporter.complete_poll("sim", Batch({CALL_SUMMARY: junk + real}), 0.1)
    found = disagreements(exporter)
    assert len(found) == 3 * len(documented)
    assert {(dict(k)["code"], dict(k)["subcode"]) for k in found} == set(documented)
    assert set(found.values()) == {1.0}


@pytest.mark.parametrize("category_source", ["catalog", "service"])
def test_a_reload_keeps_or_changes_the_category_source_as_configured(
    category_source: CategorySource,
) -> None:
    """SIGHUP rebuilds the resolver: it must take the reloaded metrics.category_source, not
    fall back to the default (which silently flipped `service` back to `catalog`)."""
    exporter = Exporter(catalog=load_catalog(), source_names=["sim"], category_source="service")
    exporter.reconfigure(
        catalog=load_catalog(),
        source_names=["sim"],
        max_series=2000,
        category_source=category_source,
    )
    batch = Batch(
        {CALL_SUMMARY: [Observation("487", "10003", "UnexpectedServerError", (), 5)]}, cursor=1
    )
    exporter.complete_poll("sim", batch, 0.1)
    expected = "UnexpectedServerError" if category_source == "service" else "Success"
    assert call_ends(exporter) == {("487", "10003", expected): 5}
