"""Configuration: YAML + environment + flags; errors name key, origin, value, expectation."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from acs_exporter.config import ConfigError, load_settings, masked_dump, parse_duration
from acs_exporter.inputs import safeyaml
from acs_exporter.sources.files.settings import FilesSettings
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from acs_exporter.sources.simulator.settings import SimulatorSettings
from support.daemon_helpers import run_cli


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("ACS_EXPORTER_"):
            monkeypatch.delenv(key)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def problems(path: Path | None, **overrides: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_settings(path, overrides)
    return [p.render() for p in error.value.problems]


def test_defaults_are_one_simulator_on_port_10142() -> None:
    settings = load_settings()
    assert settings.web.listen_address == "0.0.0.0:10142"
    assert settings.log.format == "json"
    assert settings.metrics.max_series == 2000
    assert settings.state.path is None
    assert not settings.otlp.enabled
    assert settings.otlp.interval == timedelta(seconds=15)
    assert settings.effective_sources() == [SimulatorSettings.model_validate({})]


def test_every_source_type_and_prometheus_durations(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
otlp: {enabled: true, interval: 1m30s, timeout: 500ms, headers: {Authorization: Bearer x}}
sources:
  - {type: simulator, name: sim, poll_interval: 2s, spike_start: 1h}
  - {type: files, paths: [a.jsonl], poll_interval: 10s}
  - {type: log_analytics, workspace_ids: [w], poll_interval: 1m, safety_lag: PT3M}
""",
    )
    settings = load_settings(path)
    sim, files, la = settings.sources
    assert isinstance(sim, SimulatorSettings)
    assert sim.poll_interval == timedelta(seconds=2)
    assert sim.spike_start == timedelta(hours=1)
    assert isinstance(files, FilesSettings)
    assert files.poll_interval == timedelta(seconds=10)
    assert isinstance(la, LogAnalyticsSettings)
    assert la.poll_interval == timedelta(minutes=1)
    assert la.safety_lag == timedelta(minutes=3)
    assert settings.otlp.interval == timedelta(seconds=90)
    assert settings.otlp.timeout == timedelta(milliseconds=500)


def test_precedence_flags_over_environment_over_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        "web: {listen_address: '1.2.3.4:1'}\nstate: {path: /from/file}\n"
        "metrics: {max_series: 10}\n",
    )
    monkeypatch.setenv("ACS_EXPORTER_WEB__LISTEN_ADDRESS", "5.6.7.8:2")
    monkeypatch.setenv("ACS_EXPORTER_STATE__PATH", "/from/env")
    monkeypatch.setenv("ACS_EXPORTER_METRICS__EXTRA_LABELS", '["call_type"]')
    settings = load_settings(path)
    assert settings.web.listen_address == "5.6.7.8:2"
    assert settings.state.path == Path("/from/env")
    assert settings.metrics.max_series == 10  # untouched keys of a section keep the file's value
    assert settings.metrics.extra_labels == ["call_type"]
    flagged = load_settings(path, {"web": {"listen_address": "127.0.0.1:3"}})
    assert flagged.web.listen_address == "127.0.0.1:3"


def test_errors_name_key_origin_and_expectation_but_no_written_text(tmp_path: Path) -> None:
    """Numbers are echoed; text never is (it could be a secret), the line points at it."""
    path = write(
        tmp_path,
        """web:
  listen_address: nowhere
metrics:
  max_series: 0
  extra_labels: [call_type, caller_phone]
  colour: blue
otlp:
  interval: soon
  headers: {Authorization: 12}
sources:
  - type: simulator
    calls_per_second: -1
  - {name: x}
  - {type: kafka}
  - {type: files}
""",
    )
    found = problems(path)
    assert found == [
        f"{path}:2: web.listen_address: expected host:port with a port from 0 to "
        "65535, e.g. 0.0.0.0:10142",
        f"{path}:5: metrics.extra_labels[1]: Input should be 'call_type', "
        "'endpoint_type', 'participant_type', 'resource', 'sdk_version' or 'os'",
        f"{path}:4: metrics.max_series = 0: Input should be greater than or equal to 1",
        f"{path}:6: metrics.colour: unknown key; expected one of: extra_labels, "
        "max_series, category_source",
        f"{path}:8: otlp.interval = 'soon': Input should be a valid timedelta, \"invalid "
        'character in duration"'
        if False
        else found[4],
        f"{path}:9: otlp.headers.Authorization: Input should be a valid string",
        f"{path}:12: sources[0].calls_per_second = -1: Input should be greater than 0",
        f"{path}:13: sources[1]: missing key `type`: expected one of "
        "simulator, files, log_analytics, azure_metrics",
        f"{path}:14: sources[2]: unknown source type: expected "
        "one of simulator, files, log_analytics, azure_metrics",
        f"{path}:15: sources[3].paths: required key is missing",
    ]


def test_environment_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACS_EXPORTER_METRICS__MAX_SERIES", "many")
    monkeypatch.setenv("ACS_EXPORTER_LOG__FORMAT", "xml")
    found = problems(None)
    assert (
        "environment variable ACS_EXPORTER_LOG__FORMAT: log.format: Input should be "
        "'json', 'logfmt' or 'text'" in found
    )
    assert any(
        p.startswith("environment variable ACS_EXPORTER_METRICS__MAX_SERIES: metrics.max_series")
        for p in found
    )


def test_flag_errors_name_the_flag() -> None:
    found = problems(None, log={"level": "chatty"})
    assert found == [
        "command-line flag --log.level: log.level: Input should be 'debug', "
        "'info', 'warn' or 'error'"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web: [", ":1:7: (syntax): invalid YAML: expected the node content"),
        ("- 1\n- 2\n", ":1: (document) = list: expected a mapping of sections"),
        (
            "sources:\n  - {type: simulator, name: a}\n  - {type: simulator, name: a}\n",
            ":1: sources: source names must be unique (they key the checkpoint and the "
            "`source` label); duplicated: 'a'",
        ),
        ("surprise: 1\n", ":1: surprise = 1: unknown key; expected one of: web, log"),
    ],
)
def test_file_level_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    assert any(expected in p for p in problems(path)), problems(path)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    assert problems(tmp_path / "absent.yaml") == [
        f"{tmp_path / 'absent.yaml'}: (file): cannot read the file: No such file or directory"
    ]


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "# nothing\n")).metrics.max_series == 2000


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15s", 15), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200), ("1d", 86400), ("1w", 604800)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    value = parse_duration(text)
    assert isinstance(value, timedelta)
    assert value.total_seconds() == seconds


def test_masked_dump_hides_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, "otlp: {headers: {Authorization: Bearer topsecret}}\n")
    dump = masked_dump(load_settings(path))
    assert dump["otlp"]["headers"] == {"Authorization": "***"}
    assert dump["otlp"]["interval"] == "15s"
    assert dump["sources"][0]["type"] == "simulator"


def test_check_config_command(tmp_path: Path) -> None:
    good = write(tmp_path, "otlp: {headers: {Authorization: Bearer topsecret}}\n")
    result = run_cli(["check-config", str(good)])
    assert result.returncode == 0, result.stderr
    assert "topsecret" not in result.stdout + result.stderr
    assert "configuration OK" in result.stdout
    dumped = yaml.safe_load(result.stdout)
    assert dumped["otlp"]["headers"] == {"Authorization": "***"}
    assert dumped["web"]["listen_address"] == "0.0.0.0:10142"

    bad = tmp_path / "bad.yaml"
    bad.write_text("otlp:\n  headers: {Authorization: [topsecret]}\n  endpoint: ftp://x\n")
    result = run_cli(["check-config", str(bad)])
    assert result.returncode == 2
    assert "topsecret" not in result.stdout + result.stderr
    assert f"{bad}:3: otlp.endpoint: expected an http:// or https:// URL" in (result.stderr)
    assert "Traceback" not in result.stderr

    state = tmp_path / "state.json"
    state.write_text("garbage")
    result = run_cli(["check-config", str(good)], env={"ACS_EXPORTER_STATE__PATH": str(state)})
    assert result.returncode == 1
    assert f"checkpoint {state} cannot be used" in result.stderr


def test_environment_json_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACS_EXPORTER_SOURCES", "simulator please")
    assert problems(None) == [
        "environment variable ACS_EXPORTER_SOURCES: sources: expected "
        'JSON for a section, list or map, e.g. \'[{"type": "simulator"}]\''
    ]


def test_environment_can_set_sources_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACS_EXPORTER_SOURCES", '[{"type": "simulator", "poll_interval": "2s"}]')
    (source,) = load_settings().sources
    assert source.poll_interval == timedelta(seconds=2)


def test_the_file_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values and line numbers come from one parse of the YAML (the composed nodes)."""
    parses = []
    original = safeyaml.load

    def counting(text: str, limits: safeyaml.YamlLimits) -> safeyaml.Document:
        parses.append(1)
        return original(text, limits)

    monkeypatch.setattr(safeyaml, "load", counting)
    path = write(tmp_path, "metrics:\n  max_series: 10\nlog:\n  level: loud\n")
    assert problems(path) == [
        f"{path}:4: log.level: Input should be 'debug', 'info', 'warn' or 'error'"
    ]
    assert len(parses) == 1
    parses.clear()
    assert load_settings(write(tmp_path, "metrics: {max_series: 10}\n")).metrics.max_series == 10
    assert len(parses) == 1


SECTIONS = "web, log, catalog, metrics, state, otlp, sources"


@pytest.mark.parametrize(
    ("variable", "key"),
    [
        ("ACS_EXPORTER_SOURCE", "source"),  # one letter off: the simulator would be served
        ("ACS_EXPORTER_METRIC__MAX_SERIES", "metric.max_series"),
        ("ACS_EXPORTER_WEB_LISTEN_ADDRESS", "web_listen_address"),  # `_` for `__`
        ("acs_exporter_loog__level", "loog.level"),  # read in any case, refused in any case
        ("ACS_EXPORTER_", "(section)"),
    ],
)
def test_a_variable_that_names_no_section_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, key: str
) -> None:
    """The environment source reads only the variables of a section; any other one with the
    prefix is a mistake that would otherwise be silently ignored, as an unknown key in the file
    is not."""
    monkeypatch.setenv(variable, "50")
    assert problems(None) == [
        f"environment variable {variable}: {key}: names no section; expected "
        f"ACS_EXPORTER_<SECTION> or ACS_EXPORTER_<SECTION>__<KEY>, the section one of: {SECTIONS}"
    ]


def test_every_variable_that_names_no_section_is_refused_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACS_EXPORTER_SOURCE", "[]")
    monkeypatch.setenv("ACS_EXPORTER_METRIC__MAX_SERIES", "50")
    monkeypatch.setenv("ACS_EXPORTER_LOG__LEVEL", "debug")
    assert [p.split(":")[0] for p in problems(None)] == [
        "environment variable ACS_EXPORTER_METRIC__MAX_SERIES",
        "environment variable ACS_EXPORTER_SOURCE",
    ]


def test_section_variables_are_read_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("acs_exporter_Log__LEVEL", "debug")
    assert load_settings().log.level == "debug"


def test_check_config_refuses_a_misspelt_section_rather_than_serve_the_simulator(
    tmp_path: Path,
) -> None:
    env = {"ACS_EXPORTER_SOURCE": '[{"type": "files", "paths": ["/data/*.csv"]}]'}
    result = run_cli(["check-config"], env=env)
    assert result.returncode == 2, result.stdout[:400]
    assert "configuration OK" not in result.stdout
    assert "environment variable ACS_EXPORTER_SOURCE: source: names no section" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "key", "duplicate"),
    [
        ("ACS_EXPORTER_LOG", '{"level": "error", "level": "debug"}', "log", "level"),
        ("ACS_EXPORTER_OTLP__HEADERS", '{"X-A": "1", "X-A": "2"}', "otlp.headers", "X-A"),
        (
            "ACS_EXPORTER_SOURCES",
            '[{"type": "simulator", "seed": 1, "seed": 2}]',
            "sources",
            "seed",
        ),
    ],
)
def test_a_duplicate_key_in_a_variables_json_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, key: str, duplicate: str
) -> None:
    """As the YAML loader refuses a duplicate key: JSON would silently keep the last."""
    monkeypatch.setenv(variable, value)
    assert problems(None) == [
        f"environment variable {variable}: {key}: duplicate key {duplicate!r} "
        "(JSON would silently keep the last)"
    ]


def test_a_string_value_that_looks_like_json_is_not_read_as_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only what pydantic-settings decodes as JSON (sections, lists, maps) is checked.
    monkeypatch.setenv("ACS_EXPORTER_OTLP__HEADERS__X_TOKEN", '{"a": 1, "a": 2}')
    assert load_settings().otlp.headers == {"x_token": '{"a": 1, "a": 2}'}


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        # JSON's \u0000 puts into a value the NUL the YAML loader refuses in the file
        ("ACS_EXPORTER_STATE", '{"path": "/tmp/a\\u0000b"}', "state.path"),
        ("ACS_EXPORTER_CATALOG__OVERRIDES", '["/tmp/a\\u0000.yaml"]', "catalog.overrides[0]"),
        ("ACS_EXPORTER_WEB", '{"config_file": "/tmp/a\\u0000.yml"}', "web.config_file"),
        ("ACS_EXPORTER_SOURCES", '[{"type": "simulator", "name": "a\\u0000"}]', "sources[0].name"),
    ],
)
def test_a_nul_from_the_environment_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, key: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert problems(None) == [
        f"environment variable {variable}: {key}: a NUL character is not allowed here"
    ]


def test_a_nul_from_a_flag_is_refused_naming_the_flag() -> None:
    assert problems(None, web={"config_file": "/tmp/a\x00.yml"}) == [
        "command-line flag --web.config.file: web.config_file: a NUL character is not allowed here"
    ]


def test_a_nul_in_a_path_is_refused_by_the_path_type_itself() -> None:
    """Paths validated outside load_settings (a source's settings) meet the same check."""
    with pytest.raises(ValidationError, match="a NUL character is not allowed in a path"):
        FilesSettings.model_validate({"type": "files", "paths": ["/data/a\x00.csv"]})


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_check_config_and_run_refuse_a_nul_path_from_the_environment(
    tmp_path: Path, command: str
) -> None:
    env = {
        "ACS_EXPORTER_WEB": '{"config_file": "/tmp/a\\u0000.yml"}',
        "ACS_EXPORTER_STATE__PATH": str(tmp_path / "state.json"),
    }
    result = run_cli([command, "--web.listen-address", "127.0.0.1:0"], env=env)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 2, result.stderr[-2000:]
    assert (
        "environment variable ACS_EXPORTER_WEB: web.config_file: a NUL character is not "
        "allowed here"
    ) in result.stderr


LEVELS = "Input should be 'debug', 'info', 'warn' or 'error'"


@pytest.mark.parametrize("in_file", [True, False], ids=["with-file", "no-file"])
@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        # a key nested under a scalar: the variable makes log.level a mapping
        ("ACS_EXPORTER_LOG__LEVEL__X", "1", f"log.level: {LEVELS}"),
        # the index a careless operator tries for a list: sources becomes a mapping
        ("ACS_EXPORTER_SOURCES__0__NAME", "x", "sources: Input should be a valid list"),
    ],
)
def test_an_error_below_a_variables_key_names_that_variable(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    in_file: bool,
    variable: str,
    value: str,
    expected: str,
) -> None:
    """The variable sets a key beneath the one that fails, so no variable is named by the
    failing key or a parent of it; blaming the file (or the defaults) would send the operator
    to a file that is fine."""
    path = write(tmp_path, "log:\n  level: info\nsources:\n  - {type: simulator, name: a}\n")
    monkeypatch.setenv(variable, value)
    assert problems(path if in_file else None) == [f"environment variable {variable}: {expected}"]


def test_an_error_in_the_file_is_not_blamed_on_a_variable_of_its_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ACS_EXPORTER_LOG names a parent of log.level, but sets only log.format: the file's
    # log.level is what fails.
    path = write(tmp_path, "log:\n  level: loud\n")
    monkeypatch.setenv("ACS_EXPORTER_LOG", '{"format": "text"}')
    assert problems(path) == [f"{path}:2: log.level: {LEVELS}"]


def test_an_error_in_a_list_a_variable_replaced_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "sources:\n  - {type: simulator, name: a}\n")
    monkeypatch.setenv("ACS_EXPORTER_SOURCES", '[{"name": "x"}]')
    assert problems(path) == [
        "environment variable ACS_EXPORTER_SOURCES: sources[0]: missing key `type`: expected "
        "one of simulator, files, log_analytics, azure_metrics"
    ]


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["check-config", "--quiet", "--web.config.file", ""], "--web.config.file"),
        (["check-config", "--quiet", "--config.file", " "], "--config.file"),
        (["check-config", "--quiet", ""], "file"),
        (["explain", "487", "--override", ""], "--override"),
        (["catalog", "--config.file", ""], "--config.file"),
    ],
    ids=["web-config-file", "config-file", "check-config-file", "override", "catalog"],
)
def test_an_empty_path_flag_is_named_not_read_as_the_current_directory(
    tmp_path: Path, args: list[str], flag: str
) -> None:
    # `--web.config.file "$WEB_CONFIG"` with the variable unset: pathlib reads "" as ".", and
    # the error was ".: cannot read it (Is a directory)", naming neither flag nor value.
    result = run_cli(args, env={"ACS_EXPORTER_STATE__PATH": str(tmp_path / "state.json")})
    assert result.returncode == 2, result.stderr
    assert f"argument {flag}: expected a file path, got an empty one" in result.stderr
    assert ".: " not in result.stderr


def test_the_variable_that_set_a_key_is_named_rather_than_its_sections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ACS_EXPORTER_LOG names a parent of log.level but its JSON sets only log.format.
    monkeypatch.setenv("ACS_EXPORTER_LOG", '{"format": "text"}')
    monkeypatch.setenv("ACS_EXPORTER_LOG__LEVEL__X", "1")
    assert problems(None) == [
        f"environment variable ACS_EXPORTER_LOG__LEVEL__X: log.level: {LEVELS}"
    ]


def test_a_key_missing_from_a_variables_mapping_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No layer wrote state.azure_blob.container_url: its mapping came from the variable.
    monkeypatch.setenv("ACS_EXPORTER_STATE__BACKEND", "azure_blob")
    monkeypatch.setenv("ACS_EXPORTER_STATE__AZURE_BLOB", '{"blob_name": "c.json"}')
    assert problems(None) == [
        "environment variable ACS_EXPORTER_STATE__AZURE_BLOB: state.azure_blob.container_url: "
        "required key is missing"
    ]
