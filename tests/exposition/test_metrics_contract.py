"""Every exported family is in docs/metrics.md with the documented type and labels."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from acs_exporter.catalog import load_catalog
from acs_exporter.definitions.metrics import AZURE_BLOB_ONLY, DISCOVERY_ONLY
from acs_exporter.definitions.tables import CALL_SUMMARY, EXTRA_LABELS, MEDIA_SUMMARY, LabelPlan
from acs_exporter.exposition.text import render_text
from acs_exporter.pipeline.daemon import Exporter
from acs_exporter.pipeline.reasons import DAEMON_REJECTIONS, known_reasons
from acs_exporter.sources.base import Batch, Observation
from acs_exporter.sources.registry import source_type, source_types
from support.daemon_helpers import samples

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
        plan=LabelPlan(extra_labels=EXTRA_LABELS),
    )
    exporter.complete_poll(
        "a",
        Batch(
            {
                CALL_SUMMARY: [Observation("0", "0")],
                MEDIA_SUMMARY: [Observation("8500", "0", None, (("operation", "Play"),))],
            },
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
        for optional in (*EXTRA_LABELS, "source"):
            labels.discard(optional)
        assert labels <= set(family.label_names), (exposed, labels)
    exported = {f.name + "_total" if f.kind == "counter" else f.name for f in families}
    # The shared-state families need state.backend azure_blob (tests/pipeline/blob/).
    # The discovery families need an azure_metrics source with subscriptions (its tests).
    blob_only = {m.sample for m in (*AZURE_BLOB_ONLY, *DISCOVERY_ONLY)}
    assert set(docs) - blob_only == exported
    assert "# TYPE" in render_text(exporter.snapshot())


def registered_query_errors(kind: str) -> set[str]:
    return set(map(str, source_type(kind).known_query_errors()))


def registered_rejections(kind: str) -> set[str]:
    return set(map(str, source_type(kind).rejections))


def test_known_label_values_start_at_zero() -> None:
    """Writing-exporters guide: a counter series a dashboard or rate() needs exists from the
    start at 0, not only after its first event."""
    kinds = {"sim": "simulator", "exports": "files", "la": "log_analytics"}
    exporter = Exporter(
        catalog=load_catalog(),
        source_names=list(kinds),
        known_reasons={name: known_reasons(kind) for name, kind in kinds.items()},
    )
    text = render_text(exporter.snapshot())
    errors = samples(text, "acs_exporter_query_errors_total")
    assert set(errors.values()) == {0.0}
    by_source: dict[str, set[str]] = {}
    for labels in errors:
        by_source.setdefault(dict(labels)["source"], set()).add(dict(labels)["reason"])
    daemon = {"checkpoint_write", "internal"}
    assert by_source == {
        name: daemon | registered_query_errors(kind) for name, kind in kinds.items()
    }
    # A damaged checkpoint entry is reported by every source as bad_cursor.
    assert all("bad_cursor" in reasons for reasons in by_source.values())
    polls = samples(text, "acs_exporter_polls_total")
    assert polls == {
        (("outcome", o), ("source", s)): 0.0 for o in ("success", "error") for s in kinds
    }
    # Every source kind has zero series (the daemon's own reason at least), so the rejected
    # records panel shows 0, not "no data", on the simulator and on Log Analytics too.
    rejected = samples(text, "acs_exporter_records_rejected_total")
    assert rejected == {
        (("reason", r), ("source", s)): 0.0
        for s, reasons in (
            ("sim", {"invalid_count"}),
            ("la", {"invalid_count"}),
            ("exports", registered_rejections("files") | {"invalid_count"}),
        )
        for r in reasons
    }
    # A failure then counts on top of its zero series.
    exporter.fail_poll("la", "throttled", "429", 0.1)
    errors = samples(render_text(exporter.snapshot()), "acs_exporter_query_errors_total")
    assert errors[(("reason", "throttled"), ("source", "la"))] == 1.0
    assert errors[(("reason", "auth"), ("source", "la"))] == 0.0


def test_documented_reasons_are_the_initialised_ones() -> None:
    """docs/metrics.md lists the query-error reasons and docs/sources.md the rejection
    reasons; the zero series are exactly those."""
    row = next(line for line in DOC.read_text().splitlines() if "query_errors_total" in line)
    documented_errors = set(re.findall(r"`([a-z_]+)`", row.split("|")[3]))
    documented_errors -= {"source", "reason"}
    initialised = set()
    for entry in source_types():
        initialised |= set(known_reasons(entry.name).query_errors)
    assert initialised == documented_errors
    assert "bad_cursor" in documented_errors
    sources_doc = (DOC.parent / "sources.md").read_text()
    table = sources_doc.split("### Bad input", 1)[1].split("\n\n", 3)[2]
    documented_rejections = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.M))
    files_rejections = set(known_reasons("files").rejections) - set(DAEMON_REJECTIONS)
    assert files_rejections == documented_rejections == registered_rejections("files")
    metrics_section = sources_doc.split("## Azure Monitor platform metrics", 1)[1]
    metrics_rejections = set(re.findall(r"^\| `([a-z_]+)` \|", metrics_section, re.M))
    assert registered_rejections("azure_metrics") <= metrics_rejections
    with_rejections = ("files", "azure_metrics")
    assert all(
        not registered_rejections(t.name) for t in source_types() if t.name not in with_rejections
    )
    row = next(line for line in DOC.read_text().splitlines() if "records_rejected_total" in line)
    assert set(re.findall(r"`([a-z_]+)`", row.split("|")[3])) >= set(DAEMON_REJECTIONS)


def test_an_observation_with_a_negative_count_is_rejected_not_dropped() -> None:
    exporter = Exporter(
        catalog=load_catalog(),
        source_names=["la"],
        known_reasons={"la": known_reasons("log_analytics")},
    )
    batch = Batch(
        {CALL_SUMMARY: [Observation("0", "0", None, (), -3), Observation("0", "0", None, (), 2)]}
    )
    exporter.complete_poll("la", batch, 0.1)
    text = render_text(exporter.snapshot())
    rejected = samples(text, "acs_exporter_records_rejected_total")
    assert rejected == {(("reason", "invalid_count"), ("source", "la")): 1.0}
    assert samples(text, "acs_exporter_records_read_total") == {(("source", "la"),): 2.0}


def test_failure_reasons_are_raised_from_their_definitions() -> None:
    """Each reason is defined once (a source module's StrEnum, reasons.py for the daemon's)
    and raised through it: a string literal where a SourceError is made, or where the daemon
    picks a poll's reason, would be a second definition the registry (and the zero series)
    does not know."""
    import ast

    import acs_exporter

    literals = []
    for path in sorted(Path(acs_exporter.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            first = None
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "SourceError":
                first = node.args[0] if node.args else None
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
                names = [getattr(t, "id", None) for t in getattr(node.targets[0], "elts", [])]
                first = node.value.elts[0] if names[:1] == ["reason"] else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value:
                literals.append(f"{path.name}:{node.lineno}: {first.value!r}")
    assert literals == []


def test_the_daemons_rejection_is_saved_in_the_checkpoint(tmp_path: Path) -> None:
    """Its reason is a plain str key in the checkpoint's JSON (an enum key cannot be saved)."""
    from acs_exporter.definitions.tables import LabelPlan
    from acs_exporter.pipeline.checkpoint import Checkpoint

    path = tmp_path / "checkpoint.json"
    exporter = Exporter(
        catalog=load_catalog(),
        source_names=["la"],
        known_reasons={"la": known_reasons("log_analytics")},
        checkpoint=Checkpoint(path, LabelPlan()),
    )
    exporter.complete_poll("la", Batch({CALL_SUMMARY: [Observation("0", "0", None, (), -1)]}), 0.1)
    saved = Checkpoint(path, LabelPlan()).load()
    assert saved.sources["la"].rejected == {"invalid_count": 1}
