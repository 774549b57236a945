"""Bad input, whichever file it is in: one loader (line and column of every key and item), one
error type (`InputError`: where, field, value shown safely, message), one rendering for every
command, and values masked in one place (`acs_exporter.inputs.redact`)."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

from acs_exporter.catalog import CatalogError, load_catalog
from acs_exporter.config import ConfigError, load_settings
from acs_exporter.inputs import safeyaml
from acs_exporter.inputs.errors import InputError, InputProblem
from acs_exporter.inputs.redact import dotted, scrub, shorten
from acs_exporter.server.webconfig import TlsServerConfig, WebConfigError, load_web_config
from support.daemon_helpers import run_cli

EXPORTER = Path(__file__).parents[2] / "exporter" / "acs_exporter"
SECRET = "tok-3f9a1c77e2b94d0c"  # a value that looks like nothing in particular


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("ACS_EXPORTER_"):
            monkeypatch.delenv(key)


def test_the_loader_gives_line_and_column_of_every_key_and_item() -> None:
    text = "a:\n  b: [1, {c: 2}]\n  d:\n    - x\n    - y: z\n"
    document = safeyaml.load(text, safeyaml.YamlLimits())
    assert document.value == {"a": {"b": [1, {"c": 2}], "d": ["x", {"y": "z"}]}}
    where = {path: (p.line, p.column) for path, p in document.positions.items()}
    assert where == {
        (): (1, 1),
        ("a",): (1, 1),
        ("a", "b"): (2, 3),
        ("a", "b", 0): (2, 7),
        ("a", "b", 1): (2, 10),
        ("a", "b", 1, "c"): (2, 11),
        ("a", "d"): (3, 3),
        ("a", "d", 0): (4, 7),
        ("a", "d", 1): (5, 7),
        ("a", "d", 1, "y"): (5, 7),
    }
    # A path below what was written (a pydantic location can be deeper) finds its nearest parent.
    position = document.position(("a", "d", 1, "y", "deeper", 3))
    assert position is not None
    assert (position.line, position.column) == (5, 7)


def test_an_alias_is_not_walked_again_so_a_wide_one_costs_nothing() -> None:
    text = "base: &b {k: 1}\nuse: *b\n"
    document = safeyaml.load(text, safeyaml.YamlLimits())
    assert document.value == {"base": {"k": 1}, "use": {"k": 1}}
    assert ("use",) in document.positions
    assert ("use", "k") not in document.positions  # the anchor's keys are where they are written


def test_config_and_catalog_and_web_config_errors_are_one_type() -> None:
    assert issubclass(ConfigError, InputError)
    assert issubclass(CatalogError, InputError)
    assert issubclass(WebConfigError, InputError)


def _bad_override(tmp_path: Path) -> Path:
    path = tmp_path / "override.yaml"
    path.write_text(f"entries:\n  - code: 487\n    category: {SECRET}\n    message: m\n")
    return path


def test_a_catalog_error_never_echoes_a_text_value(tmp_path: Path) -> None:
    path = _bad_override(tmp_path)
    with pytest.raises(CatalogError) as error:
        load_catalog([path])
    text = error.value.render()
    assert SECRET not in text, text
    assert f"{path}:3: entries[0].category: Input should be" in text, text
    assert f"{path}:2: entries[0].advice: Field required" in text, text


def test_a_catalog_error_shows_a_number_it_refuses(tmp_path: Path) -> None:
    path = tmp_path / "override.yaml"
    path.write_text("entries:\n  - {code: 487, subcode: 5, message: m, advice: a, notes: 7.5}\n")
    with pytest.raises(CatalogError) as error:
        load_catalog([path])
    (problem,) = error.value.problems
    assert problem == InputProblem(
        f"{path}:2", "entries[0].notes", "7.5", "Input should be a valid string"
    )


def test_a_validator_that_quotes_its_input_is_scrubbed(tmp_path: Path) -> None:
    path = tmp_path / "override.yaml"
    path.write_text(f"entries:\n  - {{code: '{SECRET}', message: m, advice: a}}\n")
    with pytest.raises(CatalogError) as error:
        load_catalog([path])
    assert SECRET not in str(error.value)
    assert f"{path}:2: entries[0].code" in str(error.value)


def test_every_command_renders_bad_input_the_same_way(tmp_path: Path) -> None:
    override = _bad_override(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(f"catalog:\n  overrides: [{override}]\n")
    catalog = run_cli(["catalog", "--override", str(override)])
    checked = run_cli(["check-config", str(config)])
    assert catalog.returncode == 2
    assert checked.returncode == 1
    problem_lines = [
        line for line in catalog.stderr.splitlines() if line.startswith(f"  {override}:")
    ]
    assert len(problem_lines) == 2, catalog.stderr
    assert (
        catalog.stderr.splitlines()[0] == "acs-exporter catalog: invalid catalog file (2 problems):"
    )
    assert checked.stderr.splitlines()[0].endswith("invalid catalog file (2 problems):")
    for line in problem_lines:
        assert line in checked.stderr.splitlines(), (line, checked.stderr)
    for result in (catalog, checked):
        assert SECRET not in result.stderr
        assert "Traceback" not in result.stderr


def test_web_config_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [X25519]\n"
        "basic_auth_users:\n  alice: 12\n"
    )
    with pytest.raises(WebConfigError) as error:
        load_web_config(path)
    rendered = [problem.render() for problem in error.value.problems]
    tls_keys = ", ".join(TlsServerConfig.model_fields)  # listed where the unknown key was
    assert (
        f"{path}:4: tls_server_config.curve_preferences: unknown or unsupported key; "
        f"expected one of: {tls_keys}"
    ) in rendered
    assert f"{path}:6: basic_auth_users.alice: Input should be a valid string" in rendered
    assert error.value.render().startswith("invalid web config (2 problems):")


def test_a_bad_environment_variable_is_an_input_problem_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACS_EXPORTER_METRICS", "[" * 40 + "]" * 40)
    with pytest.raises(ConfigError) as error:
        load_settings()
    (problem,) = error.value.problems
    assert problem.where == "environment variable ACS_EXPORTER_METRICS"
    assert problem.message == "nested deeper than 32 levels"


def test_one_value_shortener_and_one_dotted_path() -> None:
    assert shorten("x" * 80) == "x" * 80
    assert shorten("x" * 81) == "x" * 77 + "..."
    assert shorten("abcdef", 5) == "ab..."
    assert dotted(("sources", 0, "paths", 2)) == "sources[0].paths[2]"
    assert dotted(("k" * 41,)) == "k" * 37 + "..."  # a pasted blob as a key
    assert dotted(()) == ""


# `text[:77] + "..."` or f"{text[:77]}...": a value cut short by hand.
_HAND_CUT = re.compile(r"""\[:\s*[^\]]+\]\s*\+\s*["']\.\.\.|\[:[^\]]+\]\}\.\.\.""")


def test_values_are_cut_short_in_one_place() -> None:
    """Every error that quotes a value cuts it with redact.shorten: a second cutter is where a
    different limit (or a forgotten mask) creeps in."""
    places = [
        f"{path.relative_to(EXPORTER)}:{number}"
        for path in sorted(EXPORTER.rglob("*.py"))
        if path.name != "redact.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _HAND_CUT.search(line)
    ]
    assert places == []


def test_a_scrubbed_message_keeps_the_words_that_only_contain_the_value() -> None:
    """A category written as "Unexpected" is not a secret quoted back: pydantic's list of the
    allowed values must stay readable ('UnexpectedClientError', not '***ClientError')."""
    allowed = "Input should be 'Success', 'UnexpectedClientError' or 'UnexpectedServerError'"
    assert scrub(allowed, "Unexpected") == allowed
    assert scrub(f"bad header value '{SECRET}'", SECRET) == "bad header value '***'"
    assert scrub(f"{SECRET} is not a path", SECRET) == "*** is not a path"


def test_a_catalog_error_keeps_the_allowed_categories_readable(tmp_path: Path) -> None:
    path = tmp_path / "override.yaml"
    path.write_text("entries:\n  - {code: 487, category: Unexpected, message: m, advice: a}\n")
    with pytest.raises(CatalogError) as error:
        load_catalog([path])
    assert "'UnexpectedClientError'" in str(error.value)


def test_a_huge_value_in_a_catalog_file_is_named_in_one_short_line(tmp_path: Path) -> None:
    """Scrubbing masks text, not lists: a code given as a long list is still cut short."""
    path = tmp_path / "override.yaml"
    path.write_text(
        "entries:\n  - {code: [" + ", ".join(["7"] * 20_000) + "], message: m, advice: a}\n"
    )
    with pytest.raises(CatalogError) as error:
        load_catalog([path])
    assert f"{path}:2: entries[0].code: malformed code [7, 7" in str(error.value)
    assert len(str(error.value)) < 400, len(str(error.value))


def test_a_huge_checkpoint_version_is_quoted_cut_short(tmp_path: Path) -> None:
    from acs_exporter.pipeline.checkpoint import FORMAT

    state = tmp_path / "state.json"
    state.write_text('{"format": "' + FORMAT + '", "version": "' + "9" * 100_000 + '"}\n{}\n')
    config = tmp_path / "config.yaml"
    config.write_text(f"state: {{path: {state}}}\n")
    checked = run_cli(["check-config", str(config)])
    assert checked.returncode == 1, checked.stderr
    assert "format version '999" in checked.stderr
    assert len(checked.stderr) < 2000, len(checked.stderr)


@pytest.mark.parametrize("scheme", ["http", "ftp"])
def test_the_exporter_url_of_explain_is_never_printed_with_its_password(scheme: str) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"{scheme}://alice:{SECRET}@127.0.0.1:{port}/?token={SECRET}x"
    result = run_cli(["explain", "487", "10004", "--exporter", url])
    assert result.returncode == 2, result.stderr
    assert "--exporter" in result.stderr
    assert SECRET not in result.stderr, result.stderr
    assert "127.0.0.1" in result.stderr


# Explicit YAML tags choose the constructor, and PyYAML's raise what they like on a value they
# cannot read: `!!timestamp notadate` an AttributeError, `!!bool maybe` a KeyError. Each is a
# value written in the file, so each is the file's problem, named by line and column.
@pytest.mark.parametrize(
    "value",
    [
        "!!timestamp notadate",
        "!!bool maybe",
        "!!int abc",
        "!!float x",
        "!!timestamp 2020-13-45",
    ],
)
def test_a_value_its_explicit_tag_cannot_read_is_refused_with_its_line(
    value: str, tmp_path: Path
) -> None:
    text = f"log:\n  level: {value}\n"
    with pytest.raises(safeyaml.YamlProblem) as refused:
        safeyaml.load(text, safeyaml.YamlLimits())
    assert (refused.value.line, refused.value.column) == (2, 10), refused.value.message
    config = tmp_path / "config.yaml"
    config.write_text(text)
    done = run_cli(["check-config", "--config.file", str(config)])
    assert done.returncode == 2  # a configuration error, as for any other bad value
    assert "Traceback" not in done.stderr
    assert f"{config}:2:10: (syntax): invalid YAML: cannot read this value" in done.stderr
