"""`acs-exporter explain` and `acs-exporter catalog`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from acs_exporter.cli import main

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_shows_a_documented_row_in_aligned_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "explain", "487", "10004")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "end reason 487/10004  ExpectedError"  # category first and prominent
    fields = {line[2:13].strip(): line[13:] for line in lines[2:] if line[2:13].strip()}
    assert list(fields)[:6] == ["category", "why", "matched", "message", "advice", "source"]
    assert fields["category"] == "ExpectedError  (documented row)"
    assert fields["source"].startswith("https://learn.microsoft.com/azure/communication-services/")
    assert not ANSI.search(out), "no colour when stdout is not a terminal"


def test_explain_of_an_undocumented_code_shows_what_was_derived_and_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = run(capsys, "explain", "503", "424242")
    assert out.splitlines()[0] == "end reason 503/424242  UnexpectedServerError"
    assert "(rule for the code alone)" in out
    assert "no documented row for 503/424242; rule for code 503" in " ".join(out.split())
    assert "call-end 503/- (the code alone)" in out


def test_explain_of_an_unknown_code_says_so_and_what_to_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = run(capsys, "explain", "486", "1")
    assert out.splitlines()[0] == "end reason 486/1  Unknown"
    assert "(nothing documented)" in out
    assert "override file" in out


def test_explain_code_alone_and_service_category(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "explain", "486", "1", "--service-category", "unexpectedClientError")
    assert out.splitlines()[0] == "end reason 486/1  UnexpectedClientError"
    assert "(category logged by the service)" in out
    _, out, _ = run(capsys, "explain", "200")
    assert out.splitlines()[0] == "end reason 200/-  Success"


def test_explain_colours_the_category_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "explain", "503", "--color", "always")
    assert "\x1b[1;31mUnexpectedServerError\x1b[0m" in out


def test_explain_json_has_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "410", "3112", "--json")
    assert code == 0
    data = json.loads(out)
    assert {"code", "subcode", "category", "provenance", "message", "advice", "source"} <= set(data)
    assert (data["code"], data["subcode"], data["category"], data["provenance"]) == (
        410,
        3112,
        "ExpectedError",
        "documented",
    )
    assert data["source"].startswith("https://learn.microsoft.com/")


def test_explain_json_for_an_unknown_code(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "explain", "999", "--json")
    data = json.loads(out)
    assert (data["subcode"], data["category"], data["provenance"]) == (None, "Unknown", "unknown")
    assert data["message"] is None
    assert data["source"] is None
    assert data["advice"]


@pytest.mark.parametrize("argv", [["abc"], ["-1"], ["487", "x"], ["", "0"], ["4.5"]])
def test_explain_refuses_malformed_input_clearly(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run(capsys, "explain", "--", *argv)
    assert code == 2
    assert not out
    assert err.startswith("acs-exporter explain: malformed code")


def test_explain_reports_a_bad_override_with_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "o.yaml"
    path.write_text("entries:\n  - code: 487\n    category: Maybe\n    message: m\n    advice: a\n")
    code, _, err = run(capsys, "explain", "487", "--override", str(path))
    assert code == 2
    assert f"{path}:3: entries[0].category" in err


OURS = """entries:
  - code: 486
    subcode: 1
    category: ExpectedError
    message: Busy here (our carrier)
    advice: Nothing to do.
"""


def _config_with_override(tmp_path: Path) -> Path:
    override = tmp_path / "ours.yaml"
    override.write_text(OURS)
    config = tmp_path / "config.yaml"
    config.write_text(f"catalog:\n  overrides: [{override}]\n")
    return config


def test_explain_applies_the_catalog_overrides_of_the_config_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = _config_with_override(tmp_path)
    code, out, _ = run(capsys, "explain", "486", "1", "--config.file", str(config))
    assert code == 0
    assert out.splitlines()[0] == "end reason 486/1  ExpectedError"
    assert "Busy here (our carrier)" in out
    # --override files come after the configuration's, so they win.
    later = tmp_path / "later.yaml"
    later.write_text(OURS.replace("ExpectedError", "UnexpectedClientError"))
    argv = ["explain", "486", "1", "--config.file", str(config), "--override", str(later)]
    _, out, _ = run(capsys, *argv)
    assert out.splitlines()[0] == "end reason 486/1  UnexpectedClientError"


def test_explain_reports_an_invalid_config_file_with_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("catalog:\n  overides: [x.yaml]\n")
    code, out, err = run(capsys, "explain", "486", "--config.file", str(config))
    assert code == 2
    assert not out
    assert err.startswith("acs-exporter explain: invalid configuration")
    assert f"{config}:2: catalog.overides" in err


def test_catalog_lists_the_entries_of_the_config_overrides(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = _config_with_override(tmp_path)
    code, out, _ = run(capsys, "catalog", "--json", "--search", "our carrier")
    assert (code, json.loads(out)) == (0, [])
    argv = ["catalog", "--json", "--search", "our carrier", "--config.file", str(config)]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    data = json.loads(out)
    assert [(e["code"], e["subcode"], e["category"]) for e in data] == [(486, 1, "ExpectedError")]
    assert data[0]["source"] == str(tmp_path / "ours.yaml")


def test_catalog_reads_the_overrides_from_the_environment_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    override = tmp_path / "ours.yaml"
    override.write_text(OURS)
    monkeypatch.setenv("ACS_EXPORTER_CATALOG__OVERRIDES", json.dumps([str(override)]))
    _, out, _ = run(capsys, "catalog", "--json", "--search", "our carrier")
    assert [(e["code"], e["subcode"]) for e in json.loads(out)] == [(486, 1)]


def test_catalog_lists_every_entry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalog")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["DOMAIN", "CODE/SUB", "CATEGORY", "MESSAGE"]
    assert len(lines) == 1 + 259
    # columns are aligned: the category column starts at the same offset on every line
    column = lines[0].index("CATEGORY")
    for line in lines[1:]:
        assert line[column - 2 : column] == "  ", line
        assert line[column] != " ", line


def test_catalog_json_filters_by_search_and_category(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(
        capsys, "catalog", "--json", "--search", "NETWORK", "--category", "expectederror"
    )
    data = json.loads(out)
    assert data
    assert all(e["category"] == "ExpectedError" for e in data)
    assert {"code", "subcode", "category", "message"} <= set(data[0])
    for entry in data:
        text = " ".join([entry["message"], entry["advice"], entry["notes"]]).lower()
        assert "network" in text
    assert any((e["code"], e["subcode"]) == (410, 3112) for e in data)


def test_catalog_search_matches_codes_and_category_none(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "catalog", "--json", "--search", "/8509")
    assert [(e["code"], e["subcode"]) for e in json.loads(out)] == [(None, 8509)]
    _, out, _ = run(capsys, "catalog", "--json", "--category", "none", "--domain", "call-end")
    data = json.loads(out)
    assert data
    assert all(e["category"] is None and e["subcode"] is None for e in data)


def test_catalog_with_no_match_and_bad_category(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "catalog", "--search", "no such text anywhere")
    assert out == "no entries match\n"
    with pytest.raises(SystemExit) as error:
        main(["catalog", "--category", "Bogus"])
    assert error.value.code == 2
    assert "unknown category 'Bogus'" in capsys.readouterr().err


def test_the_console_script_prints_plain_text_into_a_pipe() -> None:
    script = Path(sys.executable).with_name("acs-exporter")
    result = subprocess.run(
        [str(script), "explain", "0", "0"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("end reason 0/0  Success\n")
    assert not ANSI.search(result.stdout)


@pytest.mark.parametrize("command", ["explain", "catalog"])
def test_help_is_useful(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "--json" in out
    assert "--override" in out
    assert "--config.file" in out


def test_explain_of_a_lone_subcode_suggests_the_documented_pair(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = run(capsys, "explain", "3112")
    assert out.splitlines()[0] == "end reason 3112/-  Unknown"
    assert "try `acs-exporter explain 410 3112`" in out
    _, out, _ = run(capsys, "explain", "3112", "--json")
    assert json.loads(out)["hints"][0].startswith("3112 is a documented subcode")


def test_explain_of_a_code_documented_only_with_subcodes_asks_for_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = run(capsys, "explain", "486")
    assert out.splitlines()[0] == "end reason 486/-  Unknown"
    assert "code 486 is documented only together with a subcode (" in " ".join(out.split())


@pytest.mark.parametrize("code", ["502", "501"])
def test_explain_of_an_undocumented_code_with_subcode_0_is_not_success(
    capsys: pytest.CaptureFixture[str], code: str
) -> None:
    """The generic subcode 0 row reads "Success"; it must not describe a failing code."""
    _, out, _ = run(capsys, "explain", code, "0")
    text = " ".join(out.split())
    assert out.splitlines()[0] == f"end reason {code}/0  UnexpectedServerError"
    assert f"{code}/0 is undocumented: no page lists this pair" in text
    assert "The operation succeeded." not in text
    assert f"matched generic {code}/- (the code alone)" in text
    _, out, _ = run(capsys, "explain", code, "0", "--json")
    answer = json.loads(out)
    assert answer["documented"] is False
    assert answer["matched"]["code"] == int(code)
    assert answer["matched"]["subcode"] is None
    assert answer["advice"] != "The operation succeeded."


@pytest.mark.parametrize("subcode", ["", " "])
def test_explain_with_an_empty_subcode_is_the_code_without_subcode(
    capsys: pytest.CaptureFixture[str], subcode: str
) -> None:
    code, out, _ = run(capsys, "explain", "0", subcode)
    assert code == 0
    assert out.splitlines()[0] == "end reason 0/-  Success"
    assert "override file" not in out  # the rule decided: nothing to add
    _, out, _ = run(capsys, "explain", "0", subcode, "--service-category", "expectedError")
    assert out.splitlines()[0] == "end reason 0/-  ExpectedError"
