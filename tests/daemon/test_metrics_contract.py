"""Every exported family is in docs/metrics.md with the documented type and labels."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from acs_exporter.aggregate import LabelPlan
from acs_exporter.catalog import load_catalog
from acs_exporter.daemon import Exporter
from acs_exporter.exposition import render_text
from acs_exporter.sources.base import Batch, Observation

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
ROW = re.compile(
    r"^\| `(?P<name>[a-z_]+)` \| (?P<kind>[a-z]+)[^|]*\|\s*(?P<labels>[^|]*?)\s*\|", re.M
)


def documented() -> dict[str, tuple[str, set[str]]]:
    out = {}
    for match in ROW.finditer(DOC.read_text()):
        labels = set(re.findall(r"`([a-z_]+)`", match["labels"].split("(`")[0]))
        optional = re.search(r"\(\+ ([^)]*)\)", match["labels"])
        if optional:
            labels |= set(re.findall(r"`([a-z_]+)`", optional[1]))
        out[match["name"]] = (match["kind"], labels)
    return out


def test_exported_families_match_the_documentation() -> None:
    exporter = Exporter(
        catalog=load_catalog(),
        source_names=["a", "b"],
        plan=LabelPlan(call_end_labels=("call_type", "endpoint_type", "participant_type")),
    )
    exporter.complete_poll(
        "a",
        Batch(
            call_ends=[Observation("0", "0")],
            media_results=[Observation("8500", "0", None, (("operation", "Play"),))],
            rejected={"invalid_json": 1},
            cursor=1,
            watermark=datetime.now(UTC),
        ),
        0.1,
    )
    exporter.fail_poll("b", "throttled", "429", 0.1)
    docs = documented()
    families = exporter.snapshot().families
    assert families
    for family in families:
        exposed = family.name + "_total" if family.kind == "counter" else family.name
        assert exposed in docs, f"{exposed} is not in docs/metrics.md"
        kind, labels = docs[exposed]
        assert kind == family.kind, exposed
        assert set(family.label_names) <= labels, (exposed, family.label_names, labels)
        for optional in ("call_type", "endpoint_type", "participant_type", "source"):
            labels.discard(optional)
        assert labels <= set(family.label_names), (exposed, labels)
    exported = {f.name + "_total" if f.kind == "counter" else f.name for f in families}
    assert set(docs) == exported
    assert "# TYPE" in render_text(exporter.snapshot())
