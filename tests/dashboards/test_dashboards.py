"""The Grafana dashboards: generated JSON fresh, every query valid, conventions kept."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from generators import dashboards as generator
from generators.dashboard_queries import Query, queries, substitute
from generators.dashboards import DASHBOARDS, OUTPUT_DIR, build, render

from acs_exporter.definitions import metrics as metric_defs
from conftest import REPO

FILES = sorted(DASHBOARDS)
UIDS = {
    "acs-call-end-reasons.json": "acs-call-end-reasons",
    "acs-exporter-health.json": "acs-exporter-health",
}
METRICS_DOC = (REPO / "docs" / "metrics.md").read_text(encoding="utf-8")
RULES = yaml.safe_load((REPO / "alerts" / "acs-exporter.rules.yaml").read_text(encoding="utf-8"))
RECORDED = {r["record"] for g in RULES["groups"] for r in g["rules"] if "record" in r}
# Series Prometheus itself makes, which dashboards may read.
PROMETHEUS_SERIES = {"up", "ALERTS"}


def committed(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((OUTPUT_DIR / name).read_text(encoding="utf-8"))
    return data


def panels(data: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in data["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def all_queries() -> list[Query]:
    return [q for name in FILES for q in queries(committed(name))]


def test_committed_json_is_what_the_generator_builds() -> None:
    built = build()
    assert sorted(built) == sorted(p.name for p in OUTPUT_DIR.glob("*.json"))
    for name, data in built.items():
        assert (OUTPUT_DIR / name).read_text(encoding="utf-8") == render(data), (
            f"dashboards/{name} is stale: run `make dashboards`"
        )


@pytest.mark.parametrize("query", all_queries(), ids=lambda q: f"{q.dashboard}: {q.where}")
def test_every_query_parses_after_substituting_variables(query: Query) -> None:
    expr = query.substituted()
    # What is left is label_replace's `$1` (a capture group, no Grafana variable).
    assert "$" not in re.sub(r'"\$[0-9]+"', "", expr)
    promql_parser.parse(expr)  # raises ValueError on a syntax error


def test_substitution_covers_every_variable_form() -> None:
    text = (
        'rate(x{a=~"$job", b=~"${source}", c="[[code]]", d=~"${category:regex}"}[$__rate_interval])'
    )
    assert substitute(text) == 'rate(x{a=~".*", b=~".*", c=".*", d=~".*"}[1m])'
    assert substitute('x{job=~"$job"}', {"job": "acs"}) == 'x{job=~"acs"}'


def _metric_names(expr: str) -> set[str]:
    names = set()
    for match in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{|\[|\)|$|\s)", expr):
        name = match.group(1)
        if name.startswith(("acs_", "source", "up")) or name == "ALERTS":
            names.add(name)
    return names


@pytest.mark.parametrize("query", all_queries(), ids=lambda q: f"{q.dashboard}: {q.where}")
def test_every_metric_a_query_reads_is_documented_or_recorded(query: Query) -> None:
    for name in _metric_names(query.substituted()):
        known = (
            f"`{name.removesuffix('_bucket')}`" in METRICS_DOC
            or name in RECORDED
            or name in PROMETHEUS_SERIES
        )
        assert known, (
            f"{query.where} reads {name}, which neither docs/metrics.md nor the rules define"
        )


@pytest.mark.parametrize("name", FILES)
def test_dashboard_conventions(name: str) -> None:
    data = committed(name)
    assert data["uid"] == UIDS[name]
    assert "acs-exporter" in data["tags"]
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in panels(data)]
    assert len(ids) == len(set(ids))
    for panel in panels(data):
        if panel["type"] == "row":
            continue
        where = f"{name}: {panel['title']}"
        assert panel.get("description"), f"{where} has no description"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", where
        if panel["type"] != "table":
            assert panel["fieldConfig"]["defaults"].get("unit"), f"{where} has no unit"
    text = json.dumps(data)
    uids = {m for m in re.findall(r'"uid": "([^"]*)"', text)} - {data["uid"], "${datasource}"}
    assert not uids, f"{name} hard-codes data source uids {uids}"


def test_end_reasons_dashboard_drills_down_by_category_and_code() -> None:
    data = committed("acs-call-end-reasons.json")
    variables = {v["name"]: v for v in data["templating"]["list"]}
    for name in ("job", "source", "category", "code"):
        assert variables[name]["includeAll"]
        assert variables[name]["allValue"] == ".*"
    drill = [q for q in queries(data) if q.kind == "panel" and "$code" in q.expr]
    assert drill
    assert all("$category" in q.expr for q in drill)
    assert any(a["target"]["expr"].startswith("ALERTS") for a in data["annotations"]["list"])


def test_top_end_reasons_table_joins_the_info_metric() -> None:
    data = committed("acs-call-end-reasons.json")
    table = next(p for p in panels(data) if p["title"] == "Top end reasons")
    expr = table["targets"][0]["expr"]
    assert "acs_end_reason_info" in expr
    assert "group_left (message, advice, doc_url)" in expr
    assert table["targets"][0]["format"] == "table"
    columns = table["transformations"][0]["options"]["renameByName"]
    assert set(columns.values()) >= {"Code", "Subcode", "Category", "Calls", "Message", "Advice"}


def _red_for_server_errors(panel: dict[str, Any]) -> bool:
    """Red by an override, or (a panel of that category alone) red from its alert threshold."""
    steps = panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
    colour_by_thresholds = (
        panel["fieldConfig"]["defaults"].get("color", {}).get("mode") == "thresholds"
    )
    if colour_by_thresholds and steps and steps[-1]["color"] == "red":
        return True
    for override in panel["fieldConfig"].get("overrides", []):
        matcher = override["matcher"]
        names_it = matcher["id"] == "byRegexp" and re.fullmatch(
            str(matcher["options"]), "UnexpectedServerError"
        )
        for prop in override["properties"]:
            value = prop.get("value")
            if prop["id"] == "color" and names_it and value["fixedColor"] == "red":
                return True
            if prop["id"] == "mappings":
                mapped = value[0]["options"].get("UnexpectedServerError", {})
                if mapped.get("color") == "red":
                    return True
    return False


@pytest.mark.parametrize("name", FILES)
def test_unexpected_server_error_is_red_everywhere(name: str) -> None:
    for panel in panels(committed(name)):
        shows_categories = (
            any(
                "UnexpectedServerError" in t.get("legendFormat", "")
                or "{{category}}" in t.get("legendFormat", "")
                for t in panel.get("targets", [])
            )
            or panel["type"] == "table"
        )
        if shows_categories:
            assert _red_for_server_errors(panel), (
                f"{panel['title']} does not paint UnexpectedServerError red"
            )


def test_threshold_lines_come_from_the_alert_thresholds() -> None:
    data = committed("acs-call-end-reasons.json")
    share = next(
        p for p in panels(data) if p["title"] == "UnexpectedServerError share vs baseline and SLO"
    )
    steps = [s["value"] for s in share["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    thresholds = yaml.safe_load((REPO / "alerts" / "thresholds.yaml").read_text(encoding="utf-8"))
    assert thresholds["server_error_spike"]["share"] in steps
    assert pytest.approx(1 - thresholds["slo"]["target"]) in steps


def test_generator_check_mode_reports_stale_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in FILES:
        (tmp_path / name).write_text("{}", encoding="utf-8")
    monkeypatch.setattr(generator, "OUTPUT_DIR", tmp_path)
    assert generator.main(["--check"]) == 1
    assert generator.main([]) == 0
    assert generator.main(["--check"]) == 0


def test_disagreements_have_a_table_and_a_time_series() -> None:
    data = committed("acs-call-end-reasons.json")
    reading = {
        p["title"]: p
        for p in panels(data)
        if any(
            "acs_call_end_category_disagreements_total" in t.get("expr", "")
            for t in p.get("targets", [])
        )
    }
    assert set(reading) == {"Catalog and service disagree", "Disagreements per second"}
    table = reading["Catalog and service disagree"]
    expr = table["targets"][0]["expr"]
    for label in ("code", "subcode", "catalog_category", "service_category"):
        assert label in expr
    columns = table["transformations"][0]["options"]["renameByName"]
    assert {"Catalog says", "Service logged", "Calls"} <= set(columns.values())


def test_call_automation_row_reads_media_results_and_the_alert_threshold() -> None:
    data = committed("acs-call-end-reasons.json")
    titles = [p["title"] for p in data["panels"]]
    row = next(t for t in titles if t.startswith("Call Automation"))
    after = titles[titles.index(row) + 1 : titles.index(row) + 4]
    assert after == [
        "Media results by operation and category",
        "Media failure share by operation",
        "Top media result codes",
    ]
    by_title = {p["title"]: p for p in panels(data)}
    assert "by (operation, category)" in by_title[after[0]]["targets"][0]["expr"]
    share = by_title["Media failure share by operation"]
    assert "acs_call_automation_media_failures:ratio_rate5m" in share["targets"][0]["expr"]
    steps = [s["value"] for s in share["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    thresholds = yaml.safe_load((REPO / "alerts" / "thresholds.yaml").read_text(encoding="utf-8"))
    assert thresholds["media_failure_high"]["share"] in steps


# --- the generator: one definition of each metric name, small functions, a plain package -------

GENERATOR_MODULES = sorted(
    path
    for path in (REPO / "generators").glob("*.py")
    if path.name in {"dashboards.py", "dashboard_queries.py", "panels.py", "recorded.py"}
    or path.name.endswith("_dashboard.py")
)
# Every series name a dashboard may read: each family's sample, and a histogram's series.
DEFINED_SERIES = {m.sample for m in metric_defs.ALL} | {
    f"{m.name}_{suffix}"
    for m in metric_defs.ALL
    if m.kind == "histogram"
    for suffix in ("bucket", "count", "sum")
}
# An exporter series name where it stands alone: not inside a recording rule's level:name:ops.
_EXPORTER_NAME = re.compile(r"(?<![\w:])acs_[a-z0-9_]+")


def test_the_generator_modules_exist_in_the_package() -> None:
    names = {path.name for path in GENERATOR_MODULES}
    assert {"dashboards.py", "dashboard_queries.py", "panels.py"} <= names
    assert not (REPO / "dashboards" / "src").exists(), "dashboards/src moved into generators/"


@pytest.mark.parametrize("name", FILES)
def test_every_acs_name_in_a_dashboard_is_defined_in_metric_defs(name: str) -> None:
    """Queries, variables, annotations and descriptions alike: a renamed family in metric_defs
    that the dashboards still spell the old way fails here."""
    text = json.dumps(committed(name), ensure_ascii=False)
    used = set(_EXPORTER_NAME.findall(text))
    assert used, f"{name} reads no acs_ series at all"
    assert used <= DEFINED_SERIES, f"{name} names {sorted(used - DEFINED_SERIES)}"


def _string_literals(tree: ast.Module) -> list[ast.Constant]:
    """Every str constant except docstrings (prose about the code, not dashboard content)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


@pytest.mark.parametrize("path", GENERATOR_MODULES, ids=lambda p: p.name)
def test_the_generator_spells_no_metric_name_itself(path: Path) -> None:
    """Names come from acs_exporter.definitions.metrics (CALL_ENDS.sample, POLL_DURATION.bucket)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    spelled = [
        f"{path.name}:{node.lineno}: {match}"
        for node in _string_literals(tree)
        for match in re.findall(r"acs_[a-z0-9_]+", node.value)
    ]
    assert not spelled, "metric names written as literals:\n" + "\n".join(spelled)


@pytest.mark.parametrize("path", GENERATOR_MODULES, ids=lambda p: p.name)
def test_the_generator_functions_are_short(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{path.name}:{node.lineno}: {node.name} has {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert not long, "\n".join(long)


@pytest.mark.parametrize("path", GENERATOR_MODULES, ids=lambda p: p.name)
def test_the_generator_needs_no_sys_path_tricks(path: Path) -> None:
    assert "sys.path" not in path.read_text(encoding="utf-8"), path.name


def test_make_dashboards_runs_the_generator_as_a_module() -> None:
    """What the Makefile runs, from the repository root, in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-m", "generators.dashboards", "--check"],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "-m generators.dashboards" in makefile
    assert "dashboards/src" not in makefile
