"""`acs-exporter explain CODE [SUBCODE]`: what an end reason means and how its category was
decided. The on-call engineer's triage tool."""

from __future__ import annotations

import argparse
import sys
import textwrap

from acs_exporter.catalog import CatalogError, Domain, MalformedCode
from acs_exporter.catalog.render import explain_dict, explain_text, lookup_hints, use_colour
from acs_exporter.commands.common import add_catalog_flags, catalog_from_args, write_json
from acs_exporter.commands.verdict import ExporterUnreadable, Verdict, verdict
from acs_exporter.config import ConfigError
from acs_exporter.inputs.redact import mask_url

EXAMPLES = """examples:
  acs-exporter explain 410 3112
  acs-exporter explain 503 --json
  acs-exporter explain 486 1 --service-category UnexpectedClientError
  acs-exporter explain 487 10003 --exporter http://127.0.0.1:10142
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="explain an end reason (code, subcode): category, why, message, advice, source",
        description=(
            "Resolve an ACS end reason with the catalog and show its category, how it was "
            "decided (documented row, service category, code rule, code class or unknown), "
            "the service's message, our advice and the Microsoft page it comes from."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("code", help="end reason code, e.g. 487 (ParticipantEndReason)")
    parser.add_argument(
        "subcode",
        nargs="?",
        help="subcode, e.g. 10004 (ParticipantEndSubCode); omit for the code alone",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--domain",
        choices=[d.value for d in Domain],
        default=Domain.CALL_END.value,
        help="which table to read first (default: %(default)s)",
    )
    parser.add_argument(
        "--service-category",
        metavar="CATEGORY",
        help="the ResultCategory the service logged, used when no row documents the pair",
    )
    parser.add_argument(
        "--exporter",
        metavar="URL",
        help="a running exporter (http://host:port): also say how often it has seen the "
        "service log another category than the catalog's for this pair",
    )
    add_catalog_flags(parser)
    parser.set_defaults(func=execute)


def execute(args: argparse.Namespace) -> int:
    try:
        catalog = catalog_from_args(args)
        resolution = catalog.resolve(
            args.code, args.subcode, args.service_category, Domain(args.domain)
        )
        service = verdict(
            catalog, resolution, args.service_category, Domain(args.domain), args.exporter
        )
    except (ConfigError, CatalogError, MalformedCode, ExporterUnreadable) as error:
        print(f"acs-exporter explain: {error}", file=sys.stderr)
        return 2
    hints = lookup_hints(resolution, catalog.entries)
    if args.json:
        write_json(explain_dict(resolution) | {"hints": hints} | service.as_dict())
    else:
        colour = use_colour(sys.stdout, args.color)
        sys.stdout.write(explain_text(resolution, sys.stdout, colour, hints))
        shown = None if args.exporter is None else mask_url(args.exporter)  # basic auth?
        sys.stdout.write(verdict_text(service, resolution.key, shown))
    return 0


def verdict_text(service: Verdict, key: str, exporter: str | None, width: int = 100) -> str:
    """The service-verdict lines, aligned and wrapped like explain_text's fields."""
    out = []
    for label, value in service.lines(key, exporter):
        lines = textwrap.wrap(value, width=width - 13, break_on_hyphens=False) or [""]
        out.append(f"  {label:<10} {lines[0]}\n")
        out.extend(f"{'':13}{line}\n" for line in lines[1:])
    return "".join(out)
