"""`acs-exporter catalog`: list the end-reason catalog (shipped data plus overrides)."""

from __future__ import annotations

import argparse
import sys

from acs_exporter.catalog import CatalogError, Domain, Entry
from acs_exporter.catalog.render import catalog_text, entry_dict, use_colour
from acs_exporter.catalog.resolver import normalise_category
from acs_exporter.commands.common import add_catalog_flags, catalog_from_args, write_json
from acs_exporter.config import ConfigError

NONE = "none"


def _category(value: str) -> str:
    """A category filter: one of the four categories (any casing) or `none`."""
    if value.strip().lower() == NONE:
        return NONE
    category = normalise_category(value)
    if category is None:
        raise argparse.ArgumentTypeError(
            f"unknown category {value!r}: use Success, ExpectedError, UnexpectedClientError, "
            "UnexpectedServerError or none (entries the pages give no category)"
        )
    return category.value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "catalog",
        help="list catalog entries (filter by text, category, domain)",
        description=(
            "List the end-reason catalog: every row of Microsoft's ACS error-code tables, "
            "plus the entries of override files."
        ),
        epilog="example: acs-exporter catalog --category UnexpectedClientError --search network",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON array of entries")
    parser.add_argument(
        "--search",
        metavar="TEXT",
        help="only entries whose code/subcode, message, advice or notes contain TEXT (any case)",
    )
    parser.add_argument(
        "--category",
        type=_category,
        metavar="C",
        help="only entries of this category (`none`: entries without one)",
    )
    parser.add_argument("--domain", choices=[d.value for d in Domain], help="only this domain")
    add_catalog_flags(parser)
    parser.set_defaults(func=execute)


def _matches(entry: Entry, args: argparse.Namespace) -> bool:
    if args.domain and entry.domain != args.domain:
        return False
    if args.category:
        actual = NONE if entry.category is None else entry.category.value
        if actual != args.category:
            return False
    if args.search:
        needle = args.search.strip().lower()
        haystack = " ".join(
            [entry.key, entry.message, entry.advice, entry.notes, entry.domain.value]
        ).lower()
        return needle in haystack
    return True


def execute(args: argparse.Namespace) -> int:
    try:
        catalog = catalog_from_args(args)
    except (ConfigError, CatalogError) as error:
        print(f"acs-exporter catalog: {error}", file=sys.stderr)
        return 2
    entries = [entry for entry in catalog.entries if _matches(entry, args)]
    if args.json:
        write_json([entry_dict(entry) for entry in entries])
    else:
        sys.stdout.write(catalog_text(entries, sys.stdout, use_colour(sys.stdout, args.color)))
    return 0
