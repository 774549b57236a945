"""Text and JSON views of resolutions and entries, for `acs-exporter explain` and `catalog`."""

from __future__ import annotations

import os
import shutil
import textwrap
from typing import Any, TextIO

from acs_exporter.catalog.model import Category, Entry, Provenance, Resolution

LABEL_WIDTH = 11

_COLOURS = {
    Category.SUCCESS: "32",  # green
    Category.EXPECTED_ERROR: "33",  # yellow
    Category.UNEXPECTED_CLIENT_ERROR: "31",  # red
    Category.UNEXPECTED_SERVER_ERROR: "1;31",  # bold red: the one that pages
    Category.UNKNOWN: "35",  # magenta
}

_PROVENANCE_WORDS = {
    Provenance.DOCUMENTED: "documented row",
    Provenance.SERVICE: "category logged by the service",
    Provenance.CODE_RULE: "rule for the code alone",
    Provenance.CODE_CLASS: "class of the code",
    Provenance.SUBCODE_RULE: "generic subcode (Call Automation)",
    Provenance.UNKNOWN: "nothing documented",
}

NO_ADVICE = (
    "Microsoft's pages do not describe this end reason. Search the code in the ACS "
    "troubleshooting docs, and once you know what it means add it to a catalog override file "
    "(docs/catalog.md) so dashboards show it."
)


def use_colour(stream: TextIO, choice: str) -> bool:
    """`auto`: colour only on a terminal, never with NO_COLOR set or TERM=dumb."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def _width(stream: TextIO) -> int:
    if stream.isatty():
        return max(60, min(110, shutil.get_terminal_size((100, 24)).columns))
    return 100


def _field(label: str, value: str, width: int) -> list[str]:
    indent = " " * (LABEL_WIDTH + 2)
    wrapped = textwrap.wrap(
        value, width=width - len(indent), break_on_hyphens=False, break_long_words=False
    ) or [""]
    first = f"  {label.ljust(LABEL_WIDTH)}{wrapped[0]}"
    return [first.rstrip(), *(indent + line for line in wrapped[1:])]


def lookup_hints(resolution: Resolution, entries: tuple[Entry, ...]) -> list[str]:
    """Hints for a lone code that resolved to Unknown: the user most likely left out the
    subcode, or typed the subcode alone (ACS tools often show `3112` for `410/3112`; codes
    are 3-digit numbers, so a longer one is a subcode)."""
    if resolution.provenance is not Provenance.UNKNOWN or resolution.subcode is not None:
        return []
    number = resolution.code
    if number > 999:
        return [
            f"{number} is a documented subcode: try `acs-exporter explain {e.code} "
            f"{e.subcode}` ({e.domain} {e.key}, {e.category or 'no category'})"
            for e in entries
            if e.subcode == number and e.code is not None
        ]
    subcodes = sorted({e.subcode for e in entries if e.code == number and e.subcode is not None})
    if not subcodes:
        return []
    shown = ", ".join(str(s) for s in subcodes[:12]) + (", ..." if len(subcodes) > 12 else "")
    return [
        f"code {number} is documented only together with a subcode ({shown}): give the "
        f"subcode too, e.g. `acs-exporter explain {number} {subcodes[0]}`"
    ]


def explain_text(
    resolution: Resolution, stream: TextIO, colour: bool, hints: list[str] | None = None
) -> str:
    width = _width(stream)
    category = resolution.category
    painted = _paint(category.value, _COLOURS[category], colour)
    heading = f"{resolution.key}  {painted}"
    title = _paint("end reason", "2", colour)
    lines = [f"{title} {heading}", ""]
    lines += _field("category", f"{category}  ({_PROVENANCE_WORDS[resolution.provenance]})", width)
    lines += _field("why", resolution.reason, width)
    entry = resolution.entry
    if not resolution.documented and resolution.subcode is not None:
        lines += _field("pair", undocumented_pair(resolution), width)
    if entry is None:
        lines += _field("message", f"(none: no page describes {resolution.key})", width)
        lines += _field("advice", advice_without_entry(resolution), width)
    else:
        exact = entry.code == resolution.code and entry.subcode == resolution.subcode
        matched = f"{entry.domain} {entry.key}"
        if not exact:
            matched += " (the code alone)" if entry.subcode is None else " (the subcode alone)"
        lines += _field("matched", matched, width)
        lines += _field("message", entry.message, width)
        lines += _field("advice", entry.advice, width)
        if entry.notes:
            lines += _field("notes", entry.notes, width)
        lines += _field("source", entry.source, width)
    for index, hint in enumerate(hints or []):
        lines += _field("hint" if index == 0 else "", hint, width)
    for index, other in enumerate(resolution.related):
        label = "see also" if index == 0 else ""
        lines += _field(label, f"{other.domain} {other.key}: {other.message}", width)
    return "\n".join(lines) + "\n"


def undocumented_pair(resolution: Resolution) -> str:
    """Why the message shown is not the pair's own: 502/0 is not "Success"."""
    entry = resolution.entry
    if entry is None:
        described = "nothing describes its code or its subcode either"
    elif entry.subcode is None:
        described = f"the message and advice are those of code {entry.code} alone"
    elif entry.code is None:
        described = f"the message and advice are those of subcode {entry.subcode} alone"
    else:
        described = "the row gives no category"
    return f"{resolution.key} is undocumented: no page lists this pair; {described}"


def advice_without_entry(resolution: Resolution) -> str:
    if resolution.provenance is Provenance.UNKNOWN:
        return NO_ADVICE
    return (
        f"No page describes {resolution.key} on its own; the category comes from the "
        f"{_PROVENANCE_WORDS[resolution.provenance]} (see why)."
    )


def entry_dict(entry: Entry) -> dict[str, Any]:
    return {
        "code": entry.code,
        "subcode": entry.subcode,
        "category": None if entry.category is None else entry.category.value,
        "domain": entry.domain.value,
        "message": entry.message,
        "advice": entry.advice,
        "source": entry.source,
        "notes": entry.notes,
    }


def explain_dict(resolution: Resolution) -> dict[str, Any]:
    entry = resolution.entry
    return {
        "code": resolution.code,
        "subcode": resolution.subcode,
        "category": resolution.category.value,
        "provenance": resolution.provenance.value,
        "documented": resolution.documented,
        "catalog_category": _value(resolution.catalog_category),
        "service_category": _value(resolution.service_category),
        "reason": resolution.reason,
        "message": None if entry is None else entry.message,
        "advice": advice_without_entry(resolution) if entry is None else entry.advice,
        "source": None if entry is None else entry.source,
        "domain": None if entry is None else entry.domain.value,
        "notes": "" if entry is None else entry.notes,
        "matched": None if entry is None else entry_dict(entry),
        "related": [entry_dict(other) for other in resolution.related],
    }


def _value(category: Category | None) -> str | None:
    return None if category is None else category.value


def catalog_text(entries: list[Entry], stream: TextIO, colour: bool) -> str:
    """One aligned line per entry; messages cut to the terminal only on a terminal."""
    if not entries:
        return "no entries match\n"
    headers = ("DOMAIN", "CODE/SUB", "CATEGORY", "MESSAGE")
    rows = [
        (e.domain.value, e.key, "-" if e.category is None else e.category.value, e.message)
        for e in entries
    ]
    widths = [max(len(headers[i]), *(len(r[i]) for r in rows)) for i in range(3)]
    terminal = stream.isatty()
    room = _width(stream) - sum(widths) - 6
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, [*widths, 0], strict=True)).rstrip()]
    for row in rows:
        message = row[3]
        if terminal and len(message) > room > 10:
            message = message[: room - 1] + "…"
        category = row[2].ljust(widths[2])
        if row[2] != "-":
            category = _paint(category, _COLOURS[Category(row[2])], colour)
        lines.append(f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {category}  {message}")
    return "\n".join(lines) + "\n"
