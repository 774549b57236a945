"""The alert rules: generated file fresh, promtool clean, every alert unit-tested and documented."""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from generators import rules as generator
from generators.count_once import REPLICA_LABELS, TARGET
from generators.rules import OUTPUT, main, render
from generators.thresholds import ThresholdsError, load

from acs_exporter.catalog.model import Category
from acs_exporter.definitions import metrics as metric_defs
from acs_exporter.pipeline.aggregate import MALFORMED
from acs_exporter.pipeline.reasons import known_reasons
from conftest import REPO, require_tool

RULES = REPO / "alerts" / "acs-exporter.rules.yaml"
TESTS = sorted((REPO / "alerts" / "tests").glob("*.test.yaml"))
RUNBOOKS = REPO / "docs" / "runbooks.md"
ALERTING = REPO / "docs" / "alerting.md"
SEVERITIES = {"critical", "warning", "info"}


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return groups


def alerts() -> list[dict[str, Any]]:
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


def alert_names() -> list[str]:
    return sorted({a["alert"] for a in alerts()})


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def test_committed_rules_are_generated_from_thresholds() -> None:
    assert OUTPUT == RULES
    assert RULES.read_text(encoding="utf-8") == render(load()), (
        "alerts/acs-exporter.rules.yaml is stale: run `make alerts`"
    )


def test_promtool_check_rules_is_clean() -> None:
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "warning" not in (result.stdout + result.stderr).lower()


@pytest.mark.parametrize("test_file", TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(test_file: Path) -> None:
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "test", "rules", test_file.name],
        cwd=test_file.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _unit_test_cases() -> list[tuple[Path, dict[str, Any]]]:
    """(file, test case) of every promtool unit test in alerts/tests/."""
    return [
        (path, case)
        for path in TESTS
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]
    ]


def _expectations() -> list[tuple[str, list[dict[str, Any]]]]:
    return [
        (check["alertname"], check.get("exp_alerts") or [])
        for _, case in _unit_test_cases()
        for check in case.get("alert_rule_test", [])
    ]


@pytest.mark.parametrize("name", alert_names())
def test_every_alert_has_a_firing_and_a_silent_unit_test(name: str) -> None:
    checks = [expected for alertname, expected in _expectations() if alertname == name]
    assert any(checks), f"no promtool test shows {name} firing"
    assert any(not c for c in checks), f"no promtool test shows {name} silent"


def test_every_burn_rate_window_pair_fires_in_a_unit_test() -> None:
    fired = {
        (e["exp_labels"]["long"], e["exp_labels"]["short"])
        for name, expected in _expectations()
        if name == "ACSUnexpectedServerErrorBudgetBurn"
        for e in expected
    }
    pairs = {
        (a["labels"]["long"], a["labels"]["short"])
        for a in alerts()
        if a["alert"] == "ACSUnexpectedServerErrorBudgetBurn"
    }
    assert pairs == {("1h", "5m"), ("6h", "30m"), ("1d", "2h"), ("3d", "6h")}
    assert fired == pairs


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: f"{a['alert']}-{a['labels']['severity']}")
def test_alert_follows_mixin_conventions(alert: dict[str, Any]) -> None:
    assert re.fullmatch(r"ACS(?:[A-Z][a-z0-9]*)+", alert["alert"]), alert["alert"]
    assert alert["labels"]["severity"] in SEVERITIES
    annotations = alert["annotations"]
    assert set(annotations) == {"summary", "description", "runbook_url"}
    assert "{{" in annotations["description"], "description is not templated"
    assert annotations["runbook_url"].endswith("#" + alert["alert"].lower())


def test_recording_rules_follow_level_metric_operations_naming() -> None:
    records = [r["record"] for g in rule_groups() for r in g["rules"] if "record" in r]
    assert records
    for record in records:
        assert re.fullmatch(r"[a-z_]+:acs_[a-z_]+:[a-z0-9_]+", record), record


def test_every_alert_has_a_runbook_section() -> None:
    headings = {
        github_anchor(line.lstrip("#"))
        for line in RUNBOOKS.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    missing = [n for n in alert_names() if n.lower() not in headings]
    assert not missing, f"docs/runbooks.md lacks a section for {missing}"
    text = RUNBOOKS.read_text(encoding="utf-8")
    for name in alert_names():
        section = text.split(f"## {name}", 1)[1].split("\n## ", 1)[0]
        for part in ("Meaning", "Confirm", "Act"):
            assert f"**{part}" in section, f"runbook of {name} has no {part} part"


def test_alerting_doc_names_every_alert_and_threshold() -> None:
    text = ALERTING.read_text(encoding="utf-8")
    for name in alert_names():
        assert f"`{name}`" in text, f"docs/alerting.md does not mention {name}"
    thresholds = yaml.safe_load((REPO / "alerts" / "thresholds.yaml").read_text(encoding="utf-8"))
    for section in (
        "slo",
        "server_error_spike",
        "server_error_severe_spike",
        "client_error_high",
        "category_disagreements",
        "media_failure_high",
        "call_automation_failure_burst",
        "exporter",
        "shared_state",
    ):
        for key in thresholds[section]:
            assert f"`{section}.{key}`" in text, f"docs/alerting.md does not explain {key}"


def test_invalid_thresholds_are_reported_with_file_and_field(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "alerts" / "thresholds.yaml").read_text(encoding="utf-8"))
    data["server_error_spike"]["share"] = 5
    data["exporter"]["cursor_lag"] = "half an hour"
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ThresholdsError) as error:
        load(path)
    message = str(error.value)
    assert str(path) in message
    assert "server_error_spike.share" in message
    assert "exporter.cursor_lag" in message
    assert "half an hour" in message


@pytest.mark.parametrize("duration", ["5m\n", "\u0665m", "1h30m"], ids=["newline", "arabic", "sum"])
def test_a_duration_is_ascii_digits_and_one_unit(duration: str, tmp_path: Path) -> None:
    """As the chart's values schema (Go's regexp) reads it: Python's \\d takes any Unicode
    digit and its `$` matches before a final newline, which Prometheus would then refuse."""
    data = yaml.safe_load((REPO / "alerts" / "thresholds.yaml").read_text(encoding="utf-8"))
    data["exporter"]["cursor_lag_for"] = duration
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ThresholdsError, match=r"exporter\.cursor_lag_for.*not a duration"):
        load(path)


def test_slo_target_changes_every_burn_rate_threshold(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "alerts" / "thresholds.yaml").read_text(encoding="utf-8"))
    data["slo"]["target"] = 0.999
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    text = render(load(path))
    assert text.count("(1 - 0.999)") == 8
    assert "(1 - 0.995)" not in text


def test_generator_reports_bad_thresholds_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load((REPO / "alerts" / "thresholds.yaml").read_text(encoding="utf-8"))
    data["server_error_spike"]["baseline_window"] = "12h"
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["--thresholds", str(path), "--output", str(tmp_path / "out.yaml")]) == 2
    error = capsys.readouterr().err
    assert "server_error_spike.baseline_window" in error
    assert "12h" in error
    assert "Traceback" not in error
    assert not (tmp_path / "out.yaml").exists()


# --- the generator: a module of generators/, names from metric_defs, small functions -----------

GENERATOR = Path(generator.__file__)
# Series the rules read that are not the exporter's families: Prometheus's `up` and the client
# library's process collector.
NOT_OURS = {"up", "process_start_time_seconds"}
# Labels Prometheus itself adds to every scraped series, and the ones that tell the replicas of
# a deployment apart (Kubernetes service discovery's `pod`), which counting once drops.
TARGET_LABELS = {*TARGET.split(", "), *REPLICA_LABELS.split(", ")}
# A label a scrape config may copy from the pod (podTargetLabels), which no family declares and
# no rule names: one promtool case tells two deployments in one job apart by it.
SCRAPE_CONFIG_LABELS = {"release"}
# An `acs_` name standing alone: not a module path (acs_exporter.definitions.metrics,
# exporter/acs_exporter/), nor the metric part of a level:metric:operations recording rule name.
ACS_NAME = re.compile(r"(?<![\w:/])acs_[a-z0-9_]+\b(?![.:/])")


def _families() -> dict[str, metric_defs.MetricDef]:
    """Every series name a query may use, with the family that declares it."""
    names: dict[str, metric_defs.MetricDef] = {}
    for family in metric_defs.ALL:
        names[family.sample] = family
        if family.kind == "histogram":
            names[family.bucket] = family
    return names


def _rules() -> list[dict[str, Any]]:
    return [r for g in rule_groups() for r in g["rules"]]


def _walk(expr: str) -> tuple[list[promql_parser.VectorSelector], set[str]]:
    """The selectors of `expr`, and the labels its by/without/on/ignoring clauses name."""
    selectors: list[promql_parser.VectorSelector] = []
    grouping: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            selectors.append(node)
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            grouping.update(node.modifier.labels)
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            if node.modifier.matching is not None:
                grouping.update(node.modifier.matching.labels)
            grouping.update(node.modifier.group_labels or ())

    promql_parser.walk(promql_parser.parse(expr), visit)
    return selectors, grouping


def _undeclared_series(rules: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(rule, series) for each series a rule reads that is no family, recording or NOT_OURS."""
    known = set(_families()) | {r["record"] for r in rules if "record" in r} | NOT_OURS
    return [
        (rule.get("alert") or rule["record"], selector.name)
        for rule in rules
        for selector in _walk(rule["expr"])[0]
        if selector.name not in known
    ]


def _grouping_labels() -> set[str]:
    """Labels a by/on/ignoring clause or a template may name: declared, target, aggregation."""
    declared = {label for f in metric_defs.ALL for label in f.labels + f.optional_labels}
    return declared | TARGET_LABELS | set(load().aggregation_labels)


def _deployment_labels() -> set[str]:
    """Aggregation labels no family declares (cluster, namespace): the scrape target's, which
    replicas of one deployment share; any scraped series may carry them."""
    declared = {label for f in metric_defs.ALL for label in f.labels + f.optional_labels}
    return set(load().aggregation_labels) - declared


def _undeclared_matchers(name: str, labels: Iterable[str]) -> list[tuple[str, str]]:
    """(series, label) for each label a selector of an exporter family may not have."""
    family = _families().get(name)
    if family is None:  # a recording rule or NOT_OURS: any label a family may carry
        return [(name, label) for label in labels if label not in _grouping_labels()]
    declared = set(family.labels + family.optional_labels) | TARGET_LABELS | _deployment_labels()
    return [(name, label) for label in labels if label not in declared]


def _undeclared_inputs(name: str, labels: Iterable[str]) -> list[tuple[str, str]]:
    """`_undeclared_matchers` of a promtool input series, which may carry a scrape config's."""
    return _undeclared_matchers(
        name, [label for label in labels if label not in SCRAPE_CONFIG_LABELS]
    )


def _undeclared_labels(rules: list[dict[str, Any]]) -> list[tuple[str, str]]:
    wrong: list[tuple[str, str]] = []
    for rule in rules:
        selectors, grouping = _walk(rule["expr"])
        wrong += [(rule["expr"], label) for label in grouping - _grouping_labels()]
        for selector in selectors:
            matched = [m.name for m in selector.matchers.matchers]
            wrong += _undeclared_matchers(selector.name or "", matched)
        for text in rule.get("annotations", {}).values():
            templated = set(re.findall(r"\$labels\.(\w+)", text))
            wrong += [(rule["alert"], label) for label in templated - _grouping_labels()]
    return wrong


def _read_before_recorded(groups: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(rule, series) for each series a rule reads that a later rule of its group records:
    Prometheus evaluates a group's rules in order, so such a read sees the previous evaluation."""
    wrong: list[tuple[str, str]] = []
    for group in groups:
        in_group = {r["record"] for r in group["rules"] if "record" in r}
        recorded: set[str] = set()
        for rule in group["rules"]:
            for selector in _walk(rule["expr"])[0]:
                if selector.name in in_group and selector.name not in recorded:
                    wrong.append((rule.get("alert") or rule["record"], selector.name))
            if "record" in rule:
                recorded.add(rule["record"])
    return wrong


def test_a_rule_reads_what_its_group_records_only_after_the_rule_recording_it() -> None:
    assert not _read_before_recorded(rule_groups())


def test_the_order_check_catches_a_read_before_the_recording() -> None:
    group = {
        "name": "g",
        "rules": [
            {"record": "b:acs_x:rate5m", "expr": "sum(a:acs_x:rate5m)"},
            {"record": "a:acs_x:rate5m", "expr": "sum(rate(acs_x_total[5m]))"},
        ],
    }
    assert _read_before_recorded([group]) == [("b:acs_x:rate5m", "a:acs_x:rate5m")]


def test_every_series_the_rules_read_is_a_metric_defs_family_or_a_recorded_one() -> None:
    assert not _undeclared_series(_rules()), "rules read series metric_defs does not define"


def test_every_label_the_rules_name_is_declared_in_metric_defs() -> None:
    assert not _undeclared_labels(_rules()), "labels definitions/metrics.py does not declare"


def test_the_checks_catch_a_misspelt_series_and_an_undeclared_label() -> None:
    """The two checks above, on rules that are wrong in each way they look for."""
    broken = [
        {"record": "source:acs_call_ends:rate5m", "expr": "sum by (job) (acs_call_end_total)"},
        {
            "alert": "ACSBroken",
            "expr": 'sum by (job, operations) (acs_call_ends_total{reasons="x", operation="play"})'
            " / on (jobb) source:acs_call_ends:rate5m",
            "annotations": {"description": "{{ $labels.sourse }}"},
        },
    ]
    assert _undeclared_series(broken) == [("source:acs_call_ends:rate5m", "acs_call_end_total")]
    assert sorted(label for _, label in _undeclared_labels(broken)) == [
        "jobb",
        "operation",
        "operations",
        "reasons",
        "sourse",
    ]


def test_every_acs_name_in_the_rules_file_is_defined_in_metric_defs() -> None:
    _assert_acs_names_defined(RULES)


@pytest.mark.parametrize("path", [ALERTING, RUNBOOKS, *TESTS], ids=lambda p: p.name)
def test_every_acs_name_the_alert_docs_and_unit_tests_use_is_defined(path: Path) -> None:
    _assert_acs_names_defined(path)


def _assert_acs_names_defined(path: Path) -> None:
    names = set(ACS_NAME.findall(path.read_text(encoding="utf-8")))
    undefined = sorted(names - set(_families()))
    assert names, f"{path}: the pattern finds no metric name at all"
    assert not undefined, f"{path}: not in definitions/metrics.py: {', '.join(undefined)}"


def _input_series() -> list[tuple[str, str, list[str]]]:
    """(test file, series name, label names) of every promtool input series."""
    found = []
    for path, case in _unit_test_cases():
        for series in case.get("input_series", []):
            selector = promql_parser.parse(series["series"])
            assert isinstance(selector, promql_parser.VectorSelector), series["series"]
            labels = [m.name for m in selector.matchers.matchers]
            found.append((path.name, selector.name or "", labels))
    return found


def test_promtool_unit_tests_feed_only_series_the_exporter_or_the_rules_make() -> None:
    """A test input the exporter never exposes would make a "stays silent" case pass for nothing."""
    recorded = {r["record"] for r in _rules() if "record" in r}
    known = set(_families()) | recorded | NOT_OURS
    wrong = [(file, name) for file, name, _ in _input_series() if name not in known]
    wrong += [
        (file, f"{name}{{{label}}}")
        for file, name, labels in _input_series()
        for _, label in _undeclared_inputs(name, labels)
    ]
    assert not wrong, f"promtool inputs metric_defs does not declare: {wrong}"


def test_the_label_builder_refuses_a_label_the_family_does_not_declare() -> None:
    with pytest.raises(
        generator.RulesError,
        match=r"acs_call_ends has no label operation \(acs_exporter/definitions/metrics.py",
    ):
        generator._label(metric_defs.CALL_ENDS, "code", "operation")
    assert generator._label(metric_defs.MEDIA_RESULTS, "code", "operation") == "code, operation"


def _string_constants(tree: ast.AST) -> list[tuple[int, str]]:
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_the_generator_spells_no_metric_name_itself() -> None:
    tree = ast.parse(GENERATOR.read_text(encoding="utf-8"))
    spelt = [(line, ACS_NAME.findall(text)) for line, text in _string_constants(tree)]
    spelt = [(line, names) for line, names in spelt if names]
    assert not spelt, f"{GENERATOR}: metric names spelt out, not taken from metric_defs: {spelt}"


@pytest.mark.parametrize("module", ["rules", "thresholds"])
def test_the_generator_does_not_reach_into_sys_path(module: str) -> None:
    source = (REPO / "generators" / f"{module}.py").read_text(encoding="utf-8")
    assert "sys.path" not in source


def test_no_generator_function_is_longer_than_60_lines() -> None:
    tree = ast.parse(GENERATOR.read_text(encoding="utf-8"))
    long = [
        f"{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert not long, long


def test_make_alerts_command_checks_the_committed_file_as_a_module() -> None:
    """`python -m generators.rules` from the repository root, as `make alerts` runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "generators.rules", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The old script's place is empty (a checkout may keep its __pycache__ there).
    assert not list((REPO / "alerts" / "src").glob("*.py"))


def test_a_label_metric_defs_no_longer_declares_stops_generation_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A label renamed in metric_defs: the generator says which, and writes nothing."""
    renamed = dataclasses.replace(
        metric_defs.CALL_ENDS, labels=("code", "subcode", "result_category")
    )
    monkeypatch.setattr(metric_defs, "CALL_ENDS", renamed)
    output = tmp_path / "out.yaml"
    assert main(["--output", str(output)]) == 2
    error = capsys.readouterr().err
    assert "acs_call_ends has no label category" in error
    assert "acs_exporter/definitions/metrics.py" in error
    assert "Traceback" not in error
    assert not output.exists()


def test_every_label_value_the_rules_match_is_one_the_exporter_produces() -> None:
    """A category or reason renamed in the exporter would leave an alert that never fires."""
    produced = {
        "category": {str(category) for category in Category},
        "reason": set(known_reasons("log_analytics").query_errors),
        "code": {MALFORMED},
        "subcode": {MALFORMED},
    }
    never = [
        (selector.name, matcher.name, value)
        for rule in _rules()
        for selector in _walk(rule["expr"])[0]
        for matcher in selector.matchers.matchers
        if matcher.name in produced
        for value in matcher.value.split("|")
        if value not in produced[matcher.name]
    ]
    assert not never, f"rules match label values the exporter never produces: {never}"
