"""A Helm user tunes the shipped alerts without forking the chart: `prometheusRule.thresholds`
(the keys of alerts/thresholds.yaml that are safe to tune, deep-merged over the shipped ones),
`prometheusRule.runbookUrlBase` and `prometheusRule.additionalRules`.

The chart's rules come from generators/rules.py (one definition): the strongest check here is
that the rendered PrometheusRule equals, as data, what the plain generator writes for the same
merged thresholds; promtool then checks and unit-tests a tuned render."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from generators import helm_rules
from generators import rules as generator
from generators.params import Param
from generators.thresholds import Thresholds, ThresholdsError, load
from helm_python.errors import HelmRenderError
from helm_support import CHART_DIR, render
from helm_support import run_generator as run_module
from helm_support import schema_error as values_schema_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from conftest import REPO, require_tool
from support.promtool import promtool_test

DEFAULTS = REPO / "alerts" / "thresholds.yaml"
RUNBOOKS = "https://wiki.example.com/acs/runbooks"

# Overrides a team could write, each of a different kind: a share, a factor, counts, durations
# that become seconds in an expression, a `for`, the job selector and a value only %g can write.
TUNED: dict[str, Any] = {
    "server_error_spike": {"share": 0.2, "baseline_factor": 4.5, "min_calls": 120},
    "slo": {"target": 0.999},
    "client_error_high": {"for": "30m"},
    "media_failure_high": {"share": 0.00001},
    "exporter": {"cursor_lag": "1h", "poll_stale_after": "2d", "throttled_queries": 1000000},
    "exporter_job_selector": 'job="acs"',
    "shared_state": {"no_leader_for": "10m", "write_conflict_window": "2h"},
}


def rule_groups(values: dict[str, Any]) -> list[dict[str, Any]]:
    rendered = render({"prometheusRule": {"enabled": True, **values}})
    groups: list[dict[str, Any]] = rendered.one("PrometheusRule")["spec"]["groups"]
    return groups


def by_alert(groups: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [rule for group in groups for rule in group["rules"] if rule.get("alert") == name]


def helm_chart_with_template(template: str, tmp_dir: Path) -> Path:
    """A copy of the chart whose _rules.tpl is `template`."""
    chart = tmp_dir / "acs-exporter"
    shutil.copytree(CHART_DIR, chart)
    (chart / "templates" / "_rules.tpl").write_text(template, encoding="utf-8")
    return chart


def rule_groups_of(chart: Path) -> list[dict[str, Any]]:
    rendered = render({"prometheusRule": {"enabled": True}}, chart)
    groups: list[dict[str, Any]] = rendered.one("PrometheusRule")["spec"]["groups"]
    return groups


def merged(overrides: dict[str, Any]) -> Thresholds:
    """What the plain generator would get from thresholds.yaml with `overrides` merged in."""
    data = yaml.safe_load(DEFAULTS.read_text(encoding="utf-8"))
    for key, value in overrides.items():
        if isinstance(value, dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Thresholds.model_validate(data)


def generated_groups(thresholds: Thresholds) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(generator.render(thresholds))["groups"]
    return groups


# --- the rendered rules follow the values ------------------------------------------------


def test_tuned_numbers_land_in_their_expressions_and_defaults_stay_elsewhere() -> None:
    tuned = rule_groups({"thresholds": TUNED})
    default = rule_groups({})
    (spike,) = by_alert(tuned, "ACSUnexpectedServerErrorSpike")
    assert "> 0.2\n" in spike["expr"]
    assert "> 4.5 * " in spike["expr"]
    assert ">= 120\n" in spike["expr"]
    assert "above 20% and more than 4.5x" in spike["annotations"]["description"]
    (lagging,) = by_alert(tuned, "ACSExporterCursorLagging")
    assert lagging["expr"].startswith("acs_exporter_cursor_lag_seconds > 3600\n")
    (client,) = by_alert(tuned, "ACSUnexpectedClientErrorHigh")
    assert client["for"] == "30m"
    (throttled,) = by_alert(tuned, "ACSExporterQueriesThrottled")
    assert ">= 1000000\n" in throttled["expr"]
    (down,) = by_alert(tuned, "ACSExporterDown")
    assert 'up{job="acs"} == 0' in down["expr"]
    assert "job='acs'" in down["annotations"]["description"]
    (no_leader,) = by_alert(tuned, "ACSExporterNoLeader")
    assert no_leader["for"] == "10m"
    assert "lease for 10m" in no_leader["annotations"]["description"]
    (conflicts,) = by_alert(tuned, "ACSExporterStateWriteConflicts")
    assert "[2h]" in conflicts["expr"]
    assert "offset 2h" in conflicts["expr"]
    # An alert none of the overrides touch is the shipped one.
    assert by_alert(tuned, "ACSExporterSeriesNearLimit") == by_alert(
        default, "ACSExporterSeriesNearLimit"
    )


@pytest.mark.parametrize(
    "overrides",
    [
        TUNED,
        {"unknown_end_reasons": {"window": "90m", "for": "0m"}},
        {"category_disagreements": {"min_records": 7, "share": 0.125, "for": "1h"}},
        # sprig reads "09" as octal (an error): the template strips leading zeros first.
        {"server_error_spike": {"for": "09m"}, "exporter": {"cursor_lag": "090m"}},
        {"exporter": {"incomplete_results_window": "2h", "folded_window": "1w", "down_for": "1d"}},
        {"server_error_spike": {"baseline_offset": "2h"}, "exporter": {"poll_stale_after": "0s"}},
        {
            "slo": {"min_calls_long_window": 0},
            "exporter": {"rejected_share": 0.333333333},
            # float arithmetic would round its percentage up, the exact decimal down
            "client_error_high": {"share": 0.0001234565},
        },
    ],
    ids=["many", "zero-for", "disagreements", "leading-zero", "windows", "offset", "odd-numbers"],
)
def test_the_chart_renders_what_the_generator_writes_for_the_same_thresholds(
    overrides: dict[str, Any],
) -> None:
    """One definition of the rules: Helm's render equals generators/rules.py's output."""
    assert rule_groups({"thresholds": overrides}) == generated_groups(merged(overrides))


# Decimals as a team writes them (up to 9 significant digits), counts, and durations.
shares = st.decimals(min_value="0.000000001", max_value="0.999999999", places=9).map(float)
durations = st.builds("{}{}".format, st.integers(0, 999), st.sampled_from("smhdw"))
overrides = st.fixed_dictionaries(
    {
        "server_error_spike": st.fixed_dictionaries(
            {
                "share": shares,
                "baseline_factor": st.floats(1.001, 1e6).map(lambda x: float(f"{x:.4g}")),
                "min_calls": st.integers(0, 10**9),
                "for": durations,
            }
        ),
        "slo": st.fixed_dictionaries({"target": shares}),
        "exporter": st.fixed_dictionaries({"cursor_lag": durations, "rejected_share": shares}),
    }
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides)
def test_any_valid_thresholds_render_as_the_generator_writes_them(
    tuned: dict[str, Any],
) -> None:
    """Python's and Go's number formatting and duration arithmetic agree on any valid value."""
    assert rule_groups({"thresholds": tuned}) == generated_groups(merged(tuned))


def test_runbook_url_base_sets_every_runbook_link() -> None:
    groups = rule_groups({"runbookUrlBase": RUNBOOKS})
    alerts = [rule for group in groups for rule in group["rules"] if "alert" in rule]
    assert alerts
    for rule in alerts:
        assert rule["annotations"]["runbook_url"] == f"{RUNBOOKS}#{rule['alert'].lower()}"
    assert groups == generated_groups(merged({"runbook_url_base": RUNBOOKS}))


TEAM_GROUP = {
    "name": "team.calls",
    "rules": [
        {
            "alert": "TeamNoCalls",
            "expr": "sum(rate(acs_call_ends_total[30m])) == 0",
            "for": "30m",
            "labels": {"severity": "warning"},
        }
    ],
}


def test_additional_rules_are_appended_as_given() -> None:
    shipped = rule_groups({})
    groups = rule_groups({"additionalRules": [TEAM_GROUP], "additionalRuleLabels": {"t": "x"}})
    assert groups[: len(shipped)] != shipped  # the shipped alerts got the extra label ...
    assert groups[-1] == TEAM_GROUP  # ... the team's own group is theirs, untouched
    assert len(groups) == len(shipped) + 1


@pytest.mark.parametrize(
    ("groups", "named"),
    [
        (
            [{**TEAM_GROUP, "name": "acs-exporter.calls"}],
            r"additionalRules\[0\].*acs-exporter\.calls",
        ),
        ([TEAM_GROUP, TEAM_GROUP], r"additionalRules\[1\].*team\.calls"),
    ],
    ids=["like-a-shipped-group", "twice"],
)
def test_an_additional_group_whose_name_is_taken_is_refused_by_name(
    groups: list[dict[str, Any]], named: str
) -> None:
    with pytest.raises(HelmRenderError, match=named):
        rule_groups({"additionalRules": groups})


def test_disabled_alerts_and_rule_labels_still_apply_to_tuned_rules() -> None:
    groups = rule_groups(
        {
            "thresholds": TUNED,
            "disabledAlerts": ["ACSExporterDown"],
            "additionalRuleLabels": {"team": "voice"},
        }
    )
    assert by_alert(groups, "ACSExporterDown") == []
    (spike,) = by_alert(groups, "ACSUnexpectedServerErrorSpike")
    assert spike["labels"] == {"severity": "critical", "team": "voice"}
    assert "> 0.2\n" in spike["expr"]


# --- promtool on a tuned render ------------------------------------------------------------


def write_rules(tmp_path: Path, values: dict[str, Any]) -> Path:
    path = tmp_path / "tuned.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule_groups(values)}))
    return path


def test_a_tuned_render_passes_promtool_check_rules(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    rules = write_rules(tmp_path, {"thresholds": TUNED, "additionalRules": [TEAM_GROUP]})
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def cursor_lag_test(lag_for: str) -> dict[str, Any]:
    """A source 45 minutes behind: past the shipped 30m cursor_lag, short of a tuned 1h."""
    return {
        "rule_files": ["tuned.rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'acs_exporter_cursor_lag_seconds{job="acs-exporter",'
                        'instance="pod:10142",source="la"}',
                        "values": "2700x60",
                    }
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "40m",
                        "alertname": "ACSExporterCursorLagging",
                        "exp_alerts": [] if lag_for == "silent" else [LAG_ALERT],
                    }
                ],
            }
        ],
    }


LAG_ALERT = {
    "exp_labels": {
        "severity": "warning",
        "job": "acs-exporter",
        "instance": "pod:10142",
        "source": "la",
    },
    "exp_annotations": {
        "summary": "acs-exporter is reading ACS logs far behind real time.",
        "description": "Source la of acs-exporter (pod:10142) has read logs up to 45m 0s ago "
        "(threshold 30m): alerts on call outcomes arrive that late.",
        "runbook_url": "https://github.com/acs-exporter/acs-exporter/blob/main/docs/runbooks.md"
        "#acsexportercursorlagging",
    },
}


@pytest.mark.parametrize(
    ("values", "expected"),
    [({}, "fires"), ({"thresholds": {"exporter": {"cursor_lag": "1h"}}}, "silent")],
    ids=["shipped-30m-fires", "tuned-1h-silent"],
)
def test_a_tuned_threshold_changes_when_the_alert_fires(
    values: dict[str, Any], expected: str, tmp_path: Path
) -> None:
    write_rules(tmp_path, values)
    code, output = promtool_test(cursor_lag_test(expected), tmp_path / "lag.test.yaml")
    assert code == 0, output


# --- the schema accepts what is safe to tune, with the model's ranges -----------------------


def schema_error(values: dict[str, Any]) -> str | None:
    return values_schema_error({"prometheusRule": values})


# Keys that are part of recording-rule names or label sets the dashboards read, and the
# runbook base (prometheusRule.runbookUrlBase sets it): not accepted under thresholds.
FIXED = [
    {"server_error_spike": {"baseline_window": "6h"}},
    {"server_error_severe_spike": {"window": "3m"}},
    {"category_disagreements": {"window": "2h"}},
    {"aggregation_labels": ["job"]},
    {"runbook_url_base": RUNBOOKS},
    {"exporter": {"no_such_key": "5m"}},
    {"no_such_section": {}},
]


@pytest.mark.parametrize("thresholds", FIXED, ids=lambda value: str(value)[:40])
def test_keys_that_cannot_be_tuned_are_refused(thresholds: dict[str, Any]) -> None:
    error = schema_error({"thresholds": thresholds})
    assert error is not None, f"{thresholds} was accepted"
    assert "thresholds" in error


@pytest.mark.parametrize("thresholds", FIXED, ids=lambda value: str(value)[:40])
def test_without_the_schema_the_template_still_refuses_them_by_key(
    thresholds: dict[str, Any], tmp_path: Path
) -> None:
    """`helm install --skip-schema-validation` must not drop a setting silently either."""
    chart = tmp_path / "acs-exporter"
    shutil.copytree(CHART_DIR, chart)
    (chart / "values.schema.json").unlink()
    (key, value), *_ = thresholds.items()
    path = f"{key}.{next(iter(value))}" if isinstance(value, dict) and value else key
    with pytest.raises(HelmRenderError, match=rf"prometheusRule\.thresholds\.{path}: not a"):
        render({"prometheusRule": {"enabled": True, "thresholds": thresholds}}, chart)


def pydantic_accepts(overrides: dict[str, Any]) -> bool:
    try:
        merged(overrides)
    except (ValidationError, ThresholdsError):
        return False
    return True


# Values on both sides of each kind of range the model enforces.
CANDIDATES: list[dict[str, Any]] = (
    [{"server_error_spike": {"share": share}} for share in (0, 0.0001, 0.5, 0.999, 1, 1.5, -0.1)]
    + [{"server_error_spike": {"baseline_factor": factor}} for factor in (1, 1.01, 3, 100)]
    + [{"client_error_high": {"min_calls": count}} for count in (-1, 0, 30)]
    + [{"category_disagreements": {"min_records": count}} for count in (0, 1)]
    + [{"exporter": {"throttled_queries": count}} for count in (0, 1)]
    + [
        {"exporter": {"cursor_lag": duration}}
        for duration in (
            "30m",
            "0s",
            "05m",
            "1w",
            "30",
            "1h30m",
            "5 m",
            "5M",
            "-5m",
            "",
            "5m\n",
            "\u0665m",
        )
    ]
    + [{"slo": {"target": target}} for target in (0.5, 0.995, 1, 0)]
)


@pytest.mark.parametrize("overrides", CANDIDATES, ids=lambda value: str(value)[:50])
def test_the_schema_accepts_exactly_what_the_model_accepts(overrides: dict[str, Any]) -> None:
    accepted_by_schema = schema_error({"thresholds": overrides}) is None
    assert accepted_by_schema == pydantic_accepts(overrides), overrides


def test_the_committed_defaults_pass_the_schema() -> None:
    """alerts/thresholds.yaml minus the fixed keys is a valid `prometheusRule.thresholds`."""
    data = yaml.safe_load(DEFAULTS.read_text(encoding="utf-8"))
    for fixed in (*helm_rules.FIXED, *helm_rules.OWN_VALUE):
        *sections, key = fixed.split(".")
        node = data
        for section in sections:
            node = node[section]
        del node[key]
    assert schema_error({"thresholds": data}) is None
    load(DEFAULTS)


def test_additional_rules_must_be_rule_groups() -> None:
    assert schema_error({"additionalRules": [TEAM_GROUP]}) is None
    error = schema_error({"additionalRules": [{"rules": []}]})
    assert error is not None
    assert "additionalRules" in error


# --- the generated template: stored once, never stale -------------------------------------


def run_generator(*args: str) -> subprocess.CompletedProcess[str]:
    return run_module("generators.rules", *args)


def test_the_committed_template_is_what_the_generator_writes() -> None:
    assert helm_rules.TEMPLATE.read_text(encoding="utf-8") == generator.chart_template(load()), (
        "deploy/helm/acs-exporter/templates/_rules.tpl is stale: run `make alerts`"
    )


def test_check_mode_names_a_stale_template_and_the_generator_repairs_it(tmp_path: Path) -> None:
    rules, template = tmp_path / "rules.yaml", tmp_path / "_rules.tpl"
    shutil.copy(generator.OUTPUT, rules)
    template.write_text(helm_rules.TEMPLATE.read_text().replace("> %v", "> 0.05", 1))
    arguments = ("--output", str(rules), "--template", str(template))

    checked = run_generator("--check", *arguments)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert f"{template} is stale" in checked.stderr
    assert "make alerts" in checked.stderr
    assert str(rules) not in checked.stderr

    assert run_generator(*arguments).returncode == 0
    assert template.read_bytes() == helm_rules.TEMPLATE.read_bytes()
    assert run_generator("--check", *arguments).returncode == 0


def test_own_thresholds_into_an_own_file_leave_the_chart_alone(tmp_path: Path) -> None:
    before = helm_rules.TEMPLATE.read_bytes()
    result = run_generator("--output", str(tmp_path / "mine.rules.yaml"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mine.rules.yaml").read_text() == generator.OUTPUT.read_text()
    assert helm_rules.TEMPLATE.read_bytes() == before


@pytest.mark.parametrize(
    "text",
    ["100% of {{ $labels.job }}", 'quotes " and \\ and `ticks`', "é ☃ \U0001f4de", "%v %s %%"],
)
def test_any_literal_text_survives_the_template(text: str, tmp_path: Path) -> None:
    """Text of a rule (Prometheus templates, %, quotes, non-ASCII) comes out unchanged."""
    document = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "1", "summary": text}]}]}
    chart = helm_chart_with_template(helm_rules.render_template(document), tmp_path)
    assert rule_groups_of(chart) == document["groups"]


def test_a_float_threshold_written_as_is_stops_the_generator() -> None:
    """Python's str(float) and Go's %v differ (123456789.0 against 1.23456789e+08): only %.6g
    writes the same in both, so a float must go through _number()."""
    with pytest.raises(helm_rules.HelmRulesError, match=r"slo\.target.*_number"):
        helm_rules.string_template(f"x > {Param('slo.target')}")


# --- the documented examples work ----------------------------------------------------------

DOCS_WITH_EXAMPLES = [
    (CHART_DIR / "README.md", "### Tuning alerts"),
    (REPO / "docs" / "alerting.md", "## Tuning alerts as a Helm user"),
]


def example_values(path: Path, heading: str) -> dict[str, Any]:
    """The first ```yaml block after `heading`."""
    text = path.read_text(encoding="utf-8")
    section = text[text.index(heading + "\n") :]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    values: dict[str, Any] = yaml.safe_load(block)
    return values


@pytest.mark.parametrize(("path", "heading"), DOCS_WITH_EXAMPLES, ids=lambda v: str(v)[-30:])
def test_the_documented_example_renders_tuned_rules_that_promtool_accepts(
    path: Path, heading: str, tmp_path: Path
) -> None:
    promtool = require_tool("promtool")
    values = example_values(path, heading)["prometheusRule"]
    groups = rule_groups(values)
    (spike,) = by_alert(groups, "ACSUnexpectedServerErrorSpike")
    assert "> 0.1\n" in spike["expr"]
    assert spike["annotations"]["runbook_url"].startswith(values["runbookUrlBase"] + "#")
    assert groups[-1] == values["additionalRules"][-1]
    rules = tmp_path / "example.rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": groups}))
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
