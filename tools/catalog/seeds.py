"""Read the rows of every table in the seed documents (Microsoft's ACS error-code pages).

The seeds come in two renderings: the pages' markdown sources (pipe tables) and plain-text
renderings of the published pages (one row per line, cells separated by single spaces, advice
continuing on the following lines). Each seed is recognised by its content, not its file name,
so a refreshed copy of a page slots in without code changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LEARN = "https://learn.microsoft.com/azure/communication-services/resources/troubleshooting"
UNDERSTANDING_ERROR_CODES = (
    f"{LEARN}/voice-video-calling/general-troubleshooting-strategies/understanding-error-codes"
)
TROUBLESHOOTING_CODES_AUTOMATION = (
    f"{LEARN}/voice-video-calling/troubleshooting-codes?pivots=automation"
)
FAILED_TO_CREATE_CALL_AGENT = (
    f"{LEARN}/voice-video-calling/call-setup-issues/failed-to-create-call-agent"
)

CATEGORY_WORDS = (
    r"Success|ExpectedError|UnexpectedClientError|UnxpectedClientError|UnexpectedServerError"
)


@dataclass(frozen=True)
class Row:
    seed: str  # kind of seed, see SeedKind names below
    table: str  # which table of the page
    code: int | None
    subcode: int | None
    category: str | None  # as written in the page (typos included)
    message: str
    extra: str  # the page's own advice/mitigation column (used only for notes, never copied)


@dataclass(frozen=True)
class Seed:
    path: Path
    kind: str  # sdk-markdown | sdk-page | automation-markdown | callagent-markdown | callagent-page
    url: str
    rows: tuple[Row, ...]


def _cells(line: str) -> list[str]:
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip() for cell in inner.split("|")]


def _plain_markdown(text: str) -> str:
    """Cell text without markdown links, `<br>` and backticks."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<br\s*/?>|</?li>|</?ul>", " ", text)
    text = text.replace("`", "")
    return re.sub(r"\s+", " ", text).strip()


def _markdown_tables(text: str) -> list[tuple[str, list[list[str]]]]:
    """(nearest heading, data rows) for every pipe table."""
    tables: list[tuple[str, list[list[str]]]] = []
    heading = ""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.lstrip().startswith("|") and index + 1 < len(lines):
            separator = lines[index + 1].strip()
            if re.fullmatch(r"\|?\s*:?-{3,}.*", separator):
                rows = []
                index += 2
                while index < len(lines) and lines[index].lstrip().startswith("|"):
                    rows.append(_cells(lines[index]))
                    index += 1
                tables.append((heading, rows))
                continue
        index += 1
    return tables


def _int(text: str) -> int:
    return int(text.strip())


def _sdk_markdown(path: Path, text: str) -> Seed:
    rows = []
    for _heading, table in _markdown_tables(text):
        for cells in table:
            subcode, code, message, category, notes = cells[:5]
            rows.append(
                Row(
                    "sdk-markdown",
                    "sdk",
                    _int(code),
                    _int(subcode),
                    category or None,
                    _plain_markdown(message),
                    _plain_markdown(notes),
                )
            )
    return Seed(path, "sdk-markdown", UNDERSTANDING_ERROR_CODES, tuple(rows))


_PAGE_ROW = re.compile(rf"^(\d+) (\d+) (.*?) ({CATEGORY_WORDS})(?: (.*))?$")
_PAGE_CODES = re.compile(r"^(\d{3}(?:, \d{3})*) ([A-Z].*)$")


def _sdk_page(path: Path, text: str) -> Seed:
    """The published page: the SDK client table, then code-only lines, then the call-end table
    and its code-only lines. Tables are told apart by the heading that precedes them."""
    rows: list[Row] = []
    table = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Azure Communication Services Calling SDK client error codes"):
            table = "sdk"
        elif stripped.startswith("Calling End call codes and subcodes"):
            table = "call-end"
        if not table:
            continue
        if match := _PAGE_ROW.match(stripped):
            subcode, code, message, category, extra = match.groups()
            rows.append(
                Row(
                    "sdk-page",
                    table,
                    int(code),
                    int(subcode),
                    category,
                    message.strip(),
                    (extra or "").strip(),
                )
            )
        elif match := _PAGE_CODES.match(stripped):
            codes, message = match.groups()
            for code in codes.split(", "):
                rows.append(
                    Row("sdk-page", f"{table}-code-only", int(code), None, None, message, "")
                )
    return Seed(path, "sdk-page", UNDERSTANDING_ERROR_CODES, tuple(rows))


def _automation_markdown(path: Path, text: str) -> Seed:
    rows = []
    for heading, table in _markdown_tables(text):
        for cells in table:
            if heading.startswith("Most common Call Automation"):
                code, subcode, description, mitigation = cells[:4]
                rows.append(
                    Row(
                        "automation-markdown",
                        "automation",
                        _int(code),
                        _int(subcode),
                        None,
                        _plain_markdown(description),
                        _plain_markdown(mitigation),
                    )
                )
            elif heading.startswith("Generic subcodes"):
                subcode, description = cells[:2]
                rows.append(
                    Row(
                        "automation-markdown",
                        "generic-subcodes",
                        None,
                        _int(subcode),
                        None,
                        _plain_markdown(description),
                        "",
                    )
                )
            else:  # 4xx / 5xx / 6xx generic status codes
                code, description = cells[:2]
                rows.append(
                    Row(
                        "automation-markdown",
                        f"generic-{heading}",
                        _int(code),
                        None,
                        None,
                        _plain_markdown(description),
                        "",
                    )
                )
    return Seed(path, "automation-markdown", TROUBLESHOOTING_CODES_AUTOMATION, tuple(rows))


def _callagent_markdown(path: Path, text: str) -> Seed:
    rows = []
    for _heading, table in _markdown_tables(text):
        for cells in table:
            code, subcode, message, category = cells[:4]
            rows.append(
                Row(
                    "callagent-markdown",
                    "callagent",
                    _int(code.split("(")[0]),
                    _int(subcode),
                    category,
                    _plain_markdown(message),
                    "",
                )
            )
    return Seed(path, "callagent-markdown", FAILED_TO_CREATE_CALL_AGENT, tuple(rows))


_CALLAGENT_ROW = re.compile(rf"^(\d{{3}}) \([^)]*\) (\d+) (.*) ({CATEGORY_WORDS})$")


def _callagent_page(path: Path, text: str) -> Seed:
    rows = []
    for line in text.splitlines():
        if match := _CALLAGENT_ROW.match(line.strip()):
            code, subcode, message, category = match.groups()
            rows.append(
                Row(
                    "callagent-page",
                    "callagent",
                    int(code),
                    int(subcode),
                    category,
                    message.strip(),
                    "",
                )
            )
    return Seed(path, "callagent-page", FAILED_TO_CREATE_CALL_AGENT, tuple(rows))


def read_seed(path: Path) -> Seed:
    text = path.read_text(encoding="utf-8")
    head = text[:600]
    if "title: General troubleshooting strategies" in head:
        return _sdk_markdown(path, text)
    if "title: Troubleshooting call end response codes for Call Automation SDK" in head:
        return _automation_markdown(path, text)
    if "title: Call setup issues - Failed to create CallAgent" in head:
        return _callagent_markdown(path, text)
    if "Understanding calling codes and subcodes errors" in head:
        return _sdk_page(path, text)
    if head.lstrip().startswith("Failed to create CallAgent"):
        return _callagent_page(path, text)
    raise ValueError(f"{path}: not one of the known ACS error-code pages")


def read_seeds(directory: Path) -> list[Seed]:
    return [read_seed(path) for path in sorted(directory.iterdir()) if path.is_file()]
