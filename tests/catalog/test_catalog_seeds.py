"""Every row of every table of the five seed pages is in the shipped catalog, with the
documented category. The seed tables are parsed here, independently of tools/catalog."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from acs_exporter.catalog import Catalog, Category, Domain, load_catalog
from conftest import REPO, SEEDS, require_path

TYPOS = {"UnxpectedClientError": "UnexpectedClientError"}
# The one documented exception: the Call Automation table has no category column, but this
# row's own mitigation text says "Expected Error" (docs/catalog.md, "Disagreements").
CATEGORY_FROM_TEXT = {(405, 8520): Category.EXPECTED_ERROR}
CATEGORY_WORDS = "Success|ExpectedError|UnexpectedClientError|UnxpectedClientError"


@dataclass(frozen=True)
class SeedRow:
    where: str  # file:line, for the failure message
    domain: Domain
    code: int | None
    subcode: int | None
    category: str | None


def _pipe_cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().removeprefix("|").removesuffix("|").split("|")]


def _pipe_tables(path: Path) -> list[tuple[str, list[str], list[tuple[int, list[str]]]]]:
    """(heading, header cells, [(line number, cells)]) for each markdown table."""
    lines = path.read_text(encoding="utf-8").splitlines()
    tables = []
    heading = ""
    i = 0
    while i < len(lines):
        if lines[i].startswith("#"):
            heading = lines[i].lstrip("# ").strip()
        if lines[i].startswith("|") and i + 1 < len(lines) and "---" in lines[i + 1]:
            header = _pipe_cells(lines[i])
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append((i + 1, _pipe_cells(lines[i])))
                i += 1
            tables.append((heading, header, rows))
            continue
        i += 1
    return tables


def _number(cell: str) -> int:
    return int(re.match(r"\s*(\d+)", cell).group(1))  # type: ignore[union-attr]


def _markdown_rows(path: Path) -> list[SeedRow]:
    rows = []
    for heading, header, table in _pipe_tables(path):
        names = [h.split("<br>")[0].strip().lower() for h in header]
        for line, cells in table:
            where = f"{path.name}:{line}"
            cell = dict(zip(names, cells, strict=False))
            category = next(
                (cell[n] or None for n in names if "categor" in n),
                None,
            )
            if "code" in cell and "subcode" in cell:
                domain = Domain.CALLING_SDK
                if "mitigation" in cell:
                    domain = Domain.CALL_AUTOMATION
                rows.append(
                    SeedRow(
                        where, domain, _number(cell["code"]), _number(cell["subcode"]), category
                    )
                )
            elif "status code" in cell:
                rows.append(
                    SeedRow(where, Domain.GENERIC, _number(cell["status code"]), None, None)
                )
            elif "subcode" in cell:
                assert heading.startswith("Generic subcodes"), where
                rows.append(SeedRow(where, Domain.GENERIC, None, _number(cell["subcode"]), None))
            else:
                raise AssertionError(f"{where}: unrecognised table {header}")
    return rows


_PLAIN_ROW = re.compile(rf"^(\d+) (\d+) .*? ({CATEGORY_WORDS})(?: .*)?$")
_PLAIN_CODES = re.compile(r"^(\d{3}(?:, \d{3})*) [A-Z]")
_CALLAGENT_ROW = re.compile(rf"^(\d{{3}}) \([A-Za-z ]+\) (\d+) .* ({CATEGORY_WORDS})$")


def _plain_rows(path: Path) -> list[SeedRow]:
    rows = []
    domain: Domain | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"{path.name}:{number}"
        text = line.strip()
        if text.startswith("Azure Communication Services Calling SDK client error codes"):
            domain = Domain.CALLING_SDK
        elif text.startswith("Calling End call codes and subcodes"):
            domain = Domain.CALL_END
        if match := _CALLAGENT_ROW.match(text):
            code, subcode, category = match.groups()
            rows.append(SeedRow(where, Domain.CALLING_SDK, int(code), int(subcode), category))
        elif domain is None:
            continue
        elif match := _PLAIN_ROW.match(text):
            subcode, code, category = match.groups()
            rows.append(SeedRow(where, domain, int(code), int(subcode), category))
        elif match := _PLAIN_CODES.match(text):
            # Code-only descriptions belong to the call-end framework wherever they appear.
            for code in match.group(1).split(", "):
                rows.append(SeedRow(where, Domain.CALL_END, int(code), None, None))
    return rows


def _seed_rows() -> list[SeedRow]:
    require_path(SEEDS, "the seed pages (../shared/seeds)")
    rows: list[SeedRow] = []
    for path in sorted(SEEDS.iterdir()):
        text = path.read_text(encoding="utf-8")
        rows += _markdown_rows(path) if text.startswith("---") else _plain_rows(path)
    return rows


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_the_seeds_hold_the_rows_we_expect_to_check() -> None:
    rows = _seed_rows()
    files = {row.where.split(":")[0] for row in rows}
    assert len(files) == 5, "every one of the five seed pages contributes rows"
    # Page by page: SDK table (45, twice), call-end table (37) and code-only lines (28),
    # Call Automation (14), generic codes (20) and subcodes (118), CallAgent table (13, twice).
    assert len(rows) == 45 + 45 + 37 + 28 + 14 + 20 + 118 + 13 + 13


def test_every_seed_row_is_in_the_catalog_with_its_documented_category(
    catalog: Catalog,
) -> None:
    missing = []
    for row in _seed_rows():
        found = [e for e in catalog.find(row.code, row.subcode) if e.domain == row.domain]
        if not found:
            missing.append(f"{row.where}: {row.domain} {row.code}/{row.subcode} not in catalog")
            continue
        entry = found[0]
        if row.category is not None:
            expected: Category | None = Category(TYPOS.get(row.category, row.category))
        else:
            expected = CATEGORY_FROM_TEXT.get((row.code, row.subcode))  # type: ignore[arg-type]
        derived = row.category is None and "derived by us" in entry.notes
        if entry.category != expected and not derived:
            missing.append(
                f"{row.where}: {row.code}/{row.subcode} documented {row.category}, "
                f"catalog has {entry.category}"
            )
    assert not missing, "\n".join(missing)


def test_every_entry_has_advice_a_source_page_and_a_message(catalog: Catalog) -> None:
    for entry in catalog.entries:
        assert entry.message.strip(), entry
        assert entry.advice.strip(), entry
        assert entry.source.startswith(
            "https://learn.microsoft.com/azure/communication-services/"
        ), entry


def test_advice_is_our_own_words_not_the_pages(catalog: Catalog) -> None:
    """Advice must not repeat the page's message (the one prose we may copy)."""
    for entry in catalog.entries:
        assert entry.advice.lower() not in entry.message.lower(), entry.key


def test_the_typo_category_is_normalised_and_the_settlement_recorded(catalog: Catalog) -> None:
    for subcode in (3100, 3101, 3111):
        (entry,) = catalog.find(410, subcode)
        assert entry.category is Category.UNEXPECTED_CLIENT_ERROR
        assert "UnxpectedClientError" in entry.notes


def test_duplicated_rows_are_merged_into_one_entry(catalog: Catalog) -> None:
    keys = [(e.domain, e.code, e.subcode) for e in catalog.entries]
    assert len(keys) == len(set(keys))
    (entry,) = catalog.find(403, 40229)
    assert "twice" in entry.notes


def test_the_shipped_data_is_what_the_builder_makes_of_the_seeds() -> None:
    require_path(SEEDS, "the seed pages (../shared/seeds)")
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "catalog" / "build.py"),
            "--check",
            "--seeds",
            str(SEEDS),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docs_explain_every_shipped_rule(catalog: Catalog) -> None:
    docs = (REPO / "docs" / "catalog.md").read_text(encoding="utf-8")
    section = docs.split("### The rules for the code alone")[1].split("Deliberately")[0]
    # The first column of each table row: "| 490, 491, 496 |" or "| 0, no subcode only |".
    first_cells = re.findall(r"^\| ([\d, ]+)", section, re.M)
    table_codes = {int(c) for cell in first_cells for c in re.findall(r"\d+", cell)}
    assert {rule.code for rule in catalog.rules} <= table_codes
