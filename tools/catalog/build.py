"""Build exporter/acs_exporter/catalog/data/catalog.yaml from the seed pages, and beside it
catalog.json, its validated form that the exporter loads at start-up (catalog/prebuilt.py).

    python tools/catalog/build.py [--seeds DIR] [--check]

Rows (codes, subcodes, categories, messages) come from the pages; advice and the notes on
settled disagreements come from advice.yaml (our own words), code rules from rules.yaml.
Every decision taken while merging the pages is written into the entry's `notes`. --check
exits 1 when either committed file differs from what the seeds would build.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "exporter"))

from seeds import (  # noqa: E402
    FAILED_TO_CREATE_CALL_AGENT,
    UNDERSTANDING_ERROR_CODES,
    Row,
    read_seeds,
)

from acs_exporter.catalog.loader import parse_catalog_text, to_entry, to_rules  # noqa: E402
from acs_exporter.catalog.prebuilt import dumps_prebuilt  # noqa: E402

OUTPUT = REPO / "exporter" / "acs_exporter" / "catalog" / "data" / "catalog.yaml"
PREBUILT = OUTPUT.with_suffix(".json")
DEFAULT_SEEDS = REPO.parent / "shared" / "seeds"

DOMAIN_OF_TABLE = {
    "sdk": "calling-sdk",
    "callagent": "calling-sdk",
    "call-end": "call-end",
    "sdk-code-only": "call-end",
    "call-end-code-only": "call-end",
    "automation": "call-automation",
}
DOMAIN_ORDER = ["calling-sdk", "call-end", "call-automation", "generic"]

# Which rendering's message wins when several carry the row: the current published page
# first, its earlier markdown revision next, then the CallAgent page (whose messages are
# shortened versions of the same text).
SEED_PREFERENCE = [
    "sdk-page",
    "sdk-markdown",
    "callagent-page",
    "callagent-markdown",
    "automation-markdown",
]
TABLE_PREFERENCE = {"call-end-code-only": 0, "sdk-code-only": 1}
# Where the current page lost the cause from the message, the wording that keeps it
# (advice.yaml notes say why for each).
MESSAGE_FROM = {
    ("calling-sdk", 408, 40101): "sdk-markdown",
    ("calling-sdk", 408, 40104): "sdk-markdown",
    ("calling-sdk", 408, 40114): "sdk-markdown",
}
CATEGORY_TYPOS = {"UnxpectedClientError": "UnexpectedClientError"}
# Rows of tables without a category column whose own text states one (notes say where).
CATEGORY_FROM_TEXT = {("call-automation", 405, 8520): "ExpectedError"}
CATEGORIES = {"Success", "ExpectedError", "UnexpectedClientError", "UnexpectedServerError"}

Key = tuple[str, int | None, int | None]

# Advice must be ours: no run of this many words may come from the page's message or its own
# advice/mitigation column.
COPIED_WORDS = 6


def _ngrams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {tuple(words[i : i + COPIED_WORDS]) for i in range(len(words) - COPIED_WORDS + 1)}


def copied_words(key: Key, advice: str, rows: list[tuple[Row, str]]) -> list[str]:
    page = set().union(*(_ngrams(row.message) | _ngrams(row.extra) for row, _ in rows))
    return [
        f"advice.yaml: {key_text(key)} copies the page's words: {' '.join(run)!r}"
        for run in sorted(_ngrams(advice) & page)
    ]


def key_text(key: Key) -> str:
    domain, code, subcode = key
    return f"{domain} {'-' if code is None else code}/{'-' if subcode is None else subcode}"


def merge(
    rows_by_key: dict[Key, list[tuple[Row, str]]], key: Key
) -> tuple[dict[str, Any], list[str]]:
    rows = rows_by_key[key]
    notes: list[str] = []
    categories = set()
    for row, _url in rows:
        if row.category is None:
            continue
        category = CATEGORY_TYPOS.get(row.category, row.category)
        if category != row.category:
            notes.append(f'The page spells the category "{row.category}"; read as {category}.')
        if category not in CATEGORIES:
            raise SystemExit(f"{key_text(key)}: unknown category {row.category!r}")
        categories.add(category)
    if len(categories) > 1:
        raise SystemExit(f"{key_text(key)}: the pages disagree on the category: {categories}")
    category = categories.pop() if categories else CATEGORY_FROM_TEXT.get(key)

    ordered = sorted(
        rows,
        key=lambda item: (
            SEED_PREFERENCE.index(item[0].seed)
            if key not in MESSAGE_FROM
            else (item[0].seed != MESSAGE_FROM[key], SEED_PREFERENCE.index(item[0].seed)),
            TABLE_PREFERENCE.get(item[0].table, 0),
        ),
    )
    chosen, url = ordered[0]
    seeds = {row.seed for row, _ in rows}
    messages = {row.message for row, _ in rows if row.seed.startswith("sdk-")}
    if {"sdk-page", "sdk-markdown"} <= seeds and len(messages) > 1 and key not in MESSAGE_FROM:
        notes.append(
            "The current page and its earlier revision word the message differently (typo "
            "fixes, contractions); the current wording is kept."
        )
    if seeds & {"callagent-page", "callagent-markdown"} and seeds & {"sdk-page", "sdk-markdown"}:
        notes.append(
            'Also listed, with the same category, on the "Failed to create CallAgent" page '
            f"({FAILED_TO_CREATE_CALL_AGENT})."
        )
    entry: dict[str, Any] = {"code": key[1], "subcode": key[2]}
    if category is not None:
        entry["category"] = category
    entry.update(message=chosen.message, domain=key[0], source=url)
    return entry, notes


def derive_call_automation(entries: list[dict[str, Any]]) -> None:
    """Categories for the Call Automation rows (no category column), from call_automation.yaml:
    each derived category carries its reasoning in the entry's notes."""
    groups = yaml.safe_load((HERE / "call_automation.yaml").read_text(encoding="utf-8"))
    by_key = {key_text((e["domain"], e["code"], e["subcode"])): e for e in entries}
    wanted = {
        key
        for key, e in by_key.items()
        if (e["domain"] == "call-automation" and e["code"] is not None)
        or (e["domain"] == "generic" and e["code"] is None)
    }
    seen: set[str] = set()
    for group in groups:
        reason = " ".join(group["reason"].split())
        for key in group["keys"]:
            if key not in wanted:
                raise SystemExit(f"call_automation.yaml: {key} is not a Call Automation row")
            if key in seen:
                raise SystemExit(f"call_automation.yaml: {key} is listed twice")
            seen.add(key)
            entry = by_key[key]
            category = group["category"]
            if category is None:
                note = f"No category derived: {reason}."
            else:
                if entry.get("category", category) != category:
                    raise SystemExit(f"call_automation.yaml: {key} contradicts the page's category")
                entry["category"] = category
                note = (
                    f"Category {category} derived by us (the page has no category column): "
                    f"{reason}."
                )
            entry["notes"] = f"{entry['notes']} {note}" if entry.get("notes") else note
            # Keep the field order of the other entries: category before message.
            ordered = {k: entry[k] for k in ("code", "subcode", "category") if k in entry}
            rest = {k: v for k, v in entry.items() if k not in ordered}
            entry.clear()
            entry.update(ordered | rest)
    if wanted - seen:
        raise SystemExit(f"call_automation.yaml: no decision for {sorted(wanted - seen)}")


def check_rules(rules: list[dict[str, Any]], entries: list[dict[str, Any]]) -> None:
    """Each rule rests on the code's code-only description (a rule for records without a
    subcode: on its documented rows); reasons are normalised and sourced."""
    call_end = [e for e in entries if e["domain"] == "call-end"]
    described = {e["code"] for e in call_end if e["subcode"] is None}
    with_rows = {e["code"] for e in call_end if e["subcode"] is not None}
    for rule in rules:
        for code in rule["codes"]:
            if rule.get("without_subcode"):
                if code not in with_rows:
                    raise SystemExit(f"rules.yaml: code {code} has no documented call-end rows")
            elif code not in described:
                raise SystemExit(f"rules.yaml: code {code} has no code-only description")
        rule["reason"] = " ".join(rule["reason"].split())
        rule["source"] = UNDERSTANDING_ERROR_CODES


def build(seeds_dir: Path) -> str:
    seeds = read_seeds(seeds_dir)
    kinds = sorted(seed.kind for seed in seeds)
    expected = sorted(SEED_PREFERENCE)
    if kinds != expected:
        raise SystemExit(f"{seeds_dir}: expected one seed of each kind {expected}, got {kinds}")
    rows_by_key: dict[Key, list[tuple[Row, str]]] = defaultdict(list)
    for seed in seeds:
        for row in seed.rows:
            domain = DOMAIN_OF_TABLE.get(row.table, "generic")
            rows_by_key[(domain, row.code, row.subcode)].append((row, seed.url))

    advice: dict[str, Any] = yaml.safe_load((HERE / "advice.yaml").read_text(encoding="utf-8"))
    rules: list[dict[str, Any]] = yaml.safe_load((HERE / "rules.yaml").read_text(encoding="utf-8"))
    entries = []
    copies: list[str] = []
    for key in sorted(
        rows_by_key,
        key=lambda k: (
            DOMAIN_ORDER.index(k[0]),
            -1 if k[1] is None else k[1],
            -1 if k[2] is None else k[2],
        ),
    ):
        entry, notes = merge(rows_by_key, key)
        written = advice.pop(key_text(key), None)
        if written is None:
            raise SystemExit(f"advice.yaml has no advice for {key_text(key)}")
        if isinstance(written, str):
            written = {"advice": written}
        entry["advice"] = " ".join(written["advice"].split())
        copies += copied_words(key, entry["advice"], rows_by_key[key])
        notes += [" ".join(written["notes"].split())] if written.get("notes") else []
        if notes:
            entry["notes"] = " ".join(notes)
        entries.append(entry)
    derive_call_automation(entries)
    if copies:
        raise SystemExit("\n".join(copies))
    if advice:
        raise SystemExit(f"advice.yaml has advice for rows no page lists: {sorted(advice)}")

    check_rules(rules, entries)

    header = (
        "# Generated by tools/catalog/build.py from Microsoft's ACS error-code pages: do not\n"
        "# edit. Messages are the service's own; advice and notes are ours (advice.yaml).\n"
        "# Schema: exporter/acs_exporter/catalog/schema.py; rules: docs/catalog.md.\n"
    )
    body = yaml.safe_dump(
        {"version": 1, "entries": entries, "rules": rules},
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    text = header + body
    parse_catalog_text(text, str(OUTPUT))  # the shipped schema must accept what we write
    return text


def prebuilt(text: str) -> bytes:
    """catalog.json: the validated form of the YAML `text`, as the exporter loads it."""
    parsed = parse_catalog_text(text, str(OUTPUT))
    entries = [to_entry(model, "") for model in parsed.entries]
    return dumps_prebuilt(entries, to_rules(parsed, ""))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS)
    parser.add_argument("--check", action="store_true", help="compare with the committed files")
    args = parser.parse_args()
    text = build(args.seeds)
    outputs = {OUTPUT: text.encode("utf-8"), PREBUILT: prebuilt(text)}
    if args.check:
        stale = [path for path, data in outputs.items() if _current(path) != data]
        for path in stale:
            print(f"{path} is out of date: run python tools/catalog/build.py", file=sys.stderr)
        if stale:
            return 1
        print(f"{OUTPUT} and {PREBUILT.name} are up to date")
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    for path, data in outputs.items():
        path.write_bytes(data)
    print(f"wrote {OUTPUT} ({text.count('- code:')} entries) and {PREBUILT.name}")
    return 0


def _current(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


if __name__ == "__main__":
    sys.exit(main())
