"""metric_defs is the one definition of every family: what a real exporter serves, what
docs/metrics.md lists, and every metric name the docs, alerts and dashboards mention follow it,
so a rename fails here until every mention follows."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from acs_exporter.definitions import metrics as metric_defs
from acs_exporter.definitions.metrics import ALL, MetricDef
from acs_exporter.exposition.collector import to_metric
from acs_exporter.exposition.otlp import otel_name
from acs_exporter.exposition.snapshot import Family, HistogramValue, Snapshot
from acs_exporter.exposition.text import render_text
from support.daemon_helpers import killed_if_left_running, start

REPO = Path(__file__).resolve().parents[2]
METRICS_DOC = REPO / "docs" / "metrics.md"


def _exposed(text: str) -> dict[str, tuple[str, str, set[frozenset[str]]]]:
    """family name -> (type, help, the label-name sets its samples carry, `le` aside)."""
    out = {}
    for family in text_string_to_metric_families(text):
        label_sets = {frozenset(s.labels) - {"le"} for s in family.samples}
        out[family.name] = (family.type, family.documentation, label_sets)
    return out


# Served only by an azure_metrics source, which this run has none of: their labels are checked
# by tests/sources/azure_metrics/test_chaos.py against a real process.
PLATFORM = {metric_defs.CALL_AUTOMATION_EVENTS.name, metric_defs.CALL_AUTOMATION_API_REQUESTS.name}


def _scrape_with_every_label(tmp_path: Path) -> str:
    """A real exporter with two sources (so `source` appears) and every extra label, scraped
    once both outcome families have series."""
    data = tmp_path / "calls.jsonl"
    fixture = REPO / "tests" / "fixtures" / "files" / "diagnostic.jsonl"
    data.write_bytes(fixture.read_bytes() + b"{not json\n")
    config = tmp_path / "config.yaml"
    sources = [
        {"type": "simulator", "name": "sim", "time_scale": 50},
        {"type": "files", "name": "exports", "paths": [str(data)], "progress": False},
    ]
    from acs_exporter.definitions.tables import EXTRA_LABELS

    extra = list(EXTRA_LABELS)
    config.write_text(
        yaml.safe_dump(
            {"log": {"format": "text"}, "sources": sources, "metrics": {"extra_labels": extra}}
        )
    )
    with killed_if_left_running(start(["--config.file", str(config)], tmp_path)) as running:
        running.wait_ready(timeout=60)
        deadline = time.monotonic() + 60
        while True:
            text = running.metrics()
            families = _exposed(text)
            if (
                all(
                    families.get(m.name, ("", "", set()))[2]
                    for m in metric_defs.ALL
                    if m.labels and m.name not in PLATFORM and m not in metric_defs.DISCOVERY_ONLY
                )
                and families[metric_defs.MEDIA_RESULTS.name][2]
            ):
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.2)
        assert running.stop() == 0, running.log()
    return text


def test_a_real_exporter_serves_exactly_the_defined_families(tmp_path: Path) -> None:
    exposed = _exposed(_scrape_with_every_label(tmp_path))
    # Besides its own, only prometheus_client's standard process (and python) collectors.
    ours = {name for name in exposed if not name.startswith(("process_", "python_"))}
    # The shared-state families need state.backend azure_blob (tests/pipeline/blob/).
    # The discovery families need an azure_metrics source with subscriptions
    # (tests/sources/azure_metrics/test_process_discovery.py).
    conditional = (*metric_defs.AZURE_BLOB_ONLY, *metric_defs.DISCOVERY_ONLY)
    defined = [m for m in ALL if m not in conditional]
    assert ours == {m.name for m in defined}
    for metric in defined:
        kind, help_text, label_sets = exposed[metric.name]
        assert (kind, help_text) == (metric.kind, metric.help), metric.name
        for labels in label_sets:
            assert labels >= set(metric.labels), (metric.name, labels)
            assert labels <= {*metric.labels, *metric.optional_labels}, (metric.name, labels)
    # Every optional label is really served by some sample (here, with all of them switched on).
    for metric in (m for m in defined if m.name not in PLATFORM):
        served = set().union(*exposed[metric.name][2]) if exposed[metric.name][2] else set()
        assert set(metric.optional_labels) <= served, (metric.name, served)


# A table row of docs/metrics.md: | `name` | type | labels | meaning |
_ROW = re.compile(
    r"^\| `(?P<name>acs_[a-z_]+)` \| (?P<kind>[a-z]+)[^|]*\|(?P<labels>[^|]*)\|", re.M
)


def _without_parentheses(text: str) -> str:
    """`text` without its parenthesised parts, nested ones included (a value list may hold
    a remark in parentheses)."""
    innermost = re.compile(r"\([^()]*\)")
    while innermost.search(text):
        text = innermost.sub("", text)
    return text


def _documented_rows() -> dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """sample name -> (type, labels, optional labels) as the two tables write them.

    `(+ ...)` holds the optional labels; any other parenthesis lists a label's values."""
    rows = {}
    for match in _ROW.finditer(METRICS_DOC.read_text()):
        required, _, optional = match["labels"].partition("(+")
        required = _without_parentheses(required)
        rows[match["name"]] = (
            match["kind"],
            tuple(re.findall(r"`([a-z_]+)`", required)),
            tuple(re.findall(r"`([a-z_]+)`", optional)),
        )
    return rows


def test_docs_list_every_family_with_its_type_and_labels() -> None:
    rows = _documented_rows()
    assert list(rows) == [m.sample for m in ALL], "docs/metrics.md lists other families"
    for metric in ALL:
        assert rows[metric.sample] == (metric.kind, metric.labels, metric.optional_labels)


def _sample_names(table: tuple[MetricDef, ...] = ALL) -> set[str]:
    names = set()
    for metric in table:
        names |= {metric.name, metric.sample}
        if metric.kind == "histogram":
            names |= {metric.name + suffix for suffix in ("_bucket", "_sum", "_count")}
    return names


# An `acs_...` word used as a metric: not part of a recording-rule name (`level:metric:ops`),
# not a Python module path (`acs_exporter.pipeline.guard`), not a glob or a call.
_MENTION = re.compile(r"(?<![\w.:/-])acs_[a-z0-9_]*[a-z0-9](?![\w.:(*])")
_MENTIONING = (
    "docs/*.md",
    "README.md",
    "deploy/helm/acs-exporter/README.md",
    "alerts/*.yaml",
    "dashboards/*.json",
)


def _mentions(text: str) -> set[tuple[int, str]]:
    return {
        (number, match.group())
        for number, line in enumerate(text.splitlines(), 1)
        for match in _MENTION.finditer(line)
        if match.group() != "acs_exporter"  # the package's name
    }


def test_every_metric_name_mentioned_is_a_defined_family() -> None:
    files = sorted(path for pattern in _MENTIONING for path in REPO.glob(pattern))
    assert len(files) > 5, files
    known = _sample_names()
    unknown = [
        f"{path.relative_to(REPO)}:{number}: {name}"
        for path in files
        for number, name in sorted(_mentions(path.read_text()))
        if name not in known
    ]
    assert not unknown, "\n".join(unknown)


def test_label_value_lists_may_nest_parentheses() -> None:
    assert _without_parentheses("`source`, `reason` (`a` (why), `b`)") == "`source`, `reason` "


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("rate(acs_call_ends_total[5m])", {"acs_call_ends_total"}),
        (
            "`acs_exporter_poll_duration_seconds_bucket`",
            {"acs_exporter_poll_duration_seconds_bucket"},
        ),
        ('"expr": "sum(acs_call_endz_total)"', {"acs_call_endz_total"}),
        ("source:acs_call_ends:rate5m", set()),
        ("acs_exporter.pipeline.guard.SeriesGuard", set()),
        ("the acs_exporter package", set()),
    ],
)
def test_the_mention_scan_finds_metric_names_only(text: str, found: set[str]) -> None:
    assert {name for _, name in _mentions(text)} == found


def test_a_renamed_family_is_caught_by_the_mention_scan() -> None:
    """What the suite promises: rename a family and every old mention is reported."""
    renamed = MetricDef("acs_call_endings", "counter", metric_defs.CALL_ENDS.help)
    known = _sample_names((renamed, *ALL[1:]))
    mentioned = {name for _, name in _mentions(METRICS_DOC.read_text())}
    assert "acs_call_ends_total" in mentioned - known


def test_the_optional_call_end_labels_are_the_configurable_extra_labels() -> None:
    """metrics.extra_labels' allow-list (the tables' opt-in dimensions) and the family's
    optional labels are one fact written twice (definitions/metrics.py cannot import the tables
    without a cycle): they must not drift."""
    from acs_exporter.definitions.tables import EXTRA_LABELS

    assert (*EXTRA_LABELS, "source") == metric_defs.CALL_ENDS.optional_labels


def test_the_generated_tables_of_docs_metrics_md_are_current() -> None:
    """docs/metrics.md's tables are metric_defs rendered by `make docs`, not edited by hand."""
    from generators import metrics_doc

    current = METRICS_DOC.read_text()
    assert metrics_doc.render(current) == current, "docs/metrics.md is stale: run `make docs`"
    assert metrics_doc.main(["--check"]) == 0


@pytest.mark.parametrize(
    ("metric", "error"),
    [
        (MetricDef("acs_x", "gauge", "X.", ("source",)), "acs_x has no doc text"),
        (
            MetricDef("acs_x", "gauge", "X.", ("source",), doc="x", label_values=(("le", "?"),)),
            "label_values names labels it lacks: ['le']",
        ),
    ],
)
def test_the_doc_generator_refuses_an_incomplete_definition(metric: MetricDef, error: str) -> None:
    from generators import metrics_doc

    with pytest.raises(ValueError, match=re.escape(error)):
        metrics_doc.row(metric)


def test_the_doc_generator_names_a_missing_marker() -> None:
    from generators import metrics_doc

    with pytest.raises(ValueError, match="no '<!-- generated from metric_defs"):
        metrics_doc.render("# Metrics\n\nno tables here\n")


def _one_sample_family(metric: MetricDef) -> Family:
    labels = tuple("x" for _ in metric.labels)
    value: float | HistogramValue = (
        HistogramValue(((float("inf"), 1),), 0.5, 1) if metric.kind == "histogram" else 1.0
    )
    return Family(metric.name, metric.help, metric.kind, metric.labels, ((labels, value),))


@pytest.mark.parametrize("metric", ALL, ids=lambda m: m.name)
def test_every_exposition_path_names_samples_as_metric_defs_does(metric: MetricDef) -> None:
    """/metrics (exposition.py), the prometheus_client path (collector.py) and OTLP (otlp.py)
    follow the one sample-name rule of metric_defs."""
    family = _one_sample_family(metric)
    expected = {metric.sample}
    if metric.kind == "histogram":
        expected = {metric.bucket, metric.name + "_sum", metric.name + "_count"}
    # The lag is computed from the cursor timestamps at render time, so it needs them.
    timestamps = metric_defs.CURSOR_TIMESTAMP
    alongside = () if metric is timestamps else (_one_sample_family(timestamps),)
    ours = render_text(Snapshot((family, *alongside)), now=0.0)
    names = {re.split(r"[{ ]", line)[0] for line in ours.splitlines() if line[0] != "#"}
    assert names == expected | {f.name for f in alongside}
    assert f"# TYPE {metric.sample} {metric.kind}" in ours
    collected = to_metric(family)
    assert {sample.name for sample in collected.samples} == expected
    assert otel_name(family) == (None if metric.kind == "histogram" else metric.sample)
