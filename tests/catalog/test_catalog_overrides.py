"""User override files: they add and replace entries and rules; a bad one fails with
file, line and reason."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from acs_exporter.catalog import CatalogError, Category, Domain, Provenance, load_catalog


def _write(tmp_path: Path, text: str, name: str = "overrides.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def test_an_override_adds_a_new_end_reason(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        entries:
          - code: 486
            subcode: 560999
            category: ExpectedError
            message: New PSTN busy reason
            advice: Nothing to do.
        """,
    )
    catalog = load_catalog([path])
    resolution = catalog.resolve("486", "560999")
    assert (resolution.category, resolution.provenance) == (
        Category.EXPECTED_ERROR,
        Provenance.DOCUMENTED,
    )
    assert resolution.entry is not None
    assert resolution.entry.source == str(path)  # where the entry came from
    assert resolution.entry.domain is Domain.CALL_END  # the default domain


def test_an_override_replaces_a_shipped_entry_and_later_files_win(tmp_path: Path) -> None:
    first = _write(
        tmp_path,
        """
        entries:
          - {code: 487, subcode: 10004, category: UnexpectedClientError, message: m, advice: a}
        """,
        "first.yaml",
    )
    second = _write(
        tmp_path,
        """
        entries:
          - code: "487"
            subcode: "10004"
            category: Success
            message: ours
            advice: ours
            source: https://example.invalid/runbook
        """,
        "second.yaml",
    )
    assert load_catalog([first]).resolve(487, 10004).category is Category.UNEXPECTED_CLIENT_ERROR
    catalog = load_catalog([first, second])
    assert catalog.resolve(487, 10004).category is Category.SUCCESS
    matching = [e for e in catalog.entries if (e.code, e.subcode) == (487, 10004)]
    assert len(matching) == 1
    assert matching[0].source == "https://example.invalid/runbook"


def test_override_rules_and_categorised_code_only_entries_set_code_rules(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        rules:
          - codes: [486, 499]
            category: ExpectedError
            reason: our carrier uses these for busy lines
        entries:
          - code: 430
            category: UnexpectedServerError
            message: our reading of 430
            advice: page the platform team
        """,
    )
    catalog = load_catalog([path])
    busy = catalog.resolve(486, 1)
    assert (busy.category, busy.provenance) == (Category.EXPECTED_ERROR, Provenance.CODE_RULE)
    assert "busy lines" in busy.reason
    assert catalog.resolve(499, None).category is Category.EXPECTED_ERROR
    assert catalog.resolve(430, 1).category is Category.UNEXPECTED_SERVER_ERROR


def test_an_empty_override_file_changes_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path, "# nothing yet\n")
    assert len(load_catalog([path]).entries) == len(load_catalog().entries)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (
            """
            entries:
              - code: 487
                subcode: 1
                category: Unexpected
                message: m
                advice: a
            """,
            4,
            "entries[0].category: Input should be 'Success'",
        ),
        (
            """
            entries:
              - code: 487
                subcode: 1
                category: Success
                advice: a
            """,
            2,
            "entries[0].message: Field required",
        ),
        (
            """
            entries:
              - code: abc
                message: m
                advice: a
            """,
            2,
            "entries[0].code: malformed code 'abc'",
        ),
        (
            """
            entries:
              - code: 487
                subcode: -4
                message: m
                advice: a
            """,
            3,
            "entries[0].subcode = -4: malformed code -4",
        ),
        (
            """
            entries:
              - code: 487
                message: m
                advice: a
                colour: red
            """,
            5,
            "entries[0].colour: unknown key; expected one of: code, subcode, category, message,",
        ),
        (
            """
            entries:
              - subcode: 8509
                category: Success
                message: m
                advice: a
            """,
            2,
            "a subcode-only entry can have a category only in the generic domain",
        ),
        (
            """
            entries:
              - message: m
                advice: a
            """,
            2,
            "an entry needs a code, a subcode or both",
        ),
        (
            """
            entries:
              - code: 487
                message: m
                message: n
                advice: a
            """,
            4,
            "duplicate key 'message' (first at line 3)",
        ),
        (
            """
            entries:
              - {code: 487, subcode: 5, message: m, advice: a}
              - {code: 487, subcode: 5, message: n, advice: b}
            """,
            3,
            "call-end 487/5 is already defined at line 2",
        ),
        (
            """
            rules:
              - codes: [499]
                category: Unknown
                reason: r
            """,
            3,
            "rules[0].category",
        ),
        (
            """
            entries:
              - code: 487
                message: "unclosed
            """,
            4,
            "invalid YAML",
        ),
        (
            """
            entries:
              - code: 487
               message: m
            """,
            3,
            "invalid YAML",
        ),
        (
            """
            - code: 487
            """,
            1,
            "expected a mapping with `entries:`",
        ),
    ],
)
def test_a_bad_override_names_file_line_and_reason(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(CatalogError) as error:
        load_catalog([path])
    (problem,) = error.value.problems
    message = problem.render()
    assert message.startswith(f"{path}:{line}: "), message
    assert reason in message, message
    assert str(error.value) == f"invalid catalog file (1 problem):\n  {message}"


def test_a_missing_override_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(CatalogError) as error:
        load_catalog([path])
    assert error.value.problems[0].render().startswith(f"{path}: cannot read catalog file")


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        entries:
          - {code: 487, subcode: 1, category: Nope, message: m, advice: a}
          - {code: 487, subcode: 2, message: "", advice: a}
        """,
    )
    with pytest.raises(CatalogError) as error:
        load_catalog([path])
    lines = [problem.render() for problem in error.value.problems]
    assert lines[0].startswith(f"{path}:2: entries[0].category")
    assert lines[1].startswith(f"{path}:3: entries[1].message")
