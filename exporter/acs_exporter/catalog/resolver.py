"""Resolution of an end reason (code, subcode) to a category, and how it was decided.

Order (docs/catalog.md explains each step):
1. the documented (code, subcode) row: the requested domain's table first, then the others;
2. the category the service logged for the record (ResultCategory), when it is a valid one;
3. a rule for the code alone, derived from the pages' code-only descriptions;
4. the class of the code where the pages define one: 2xx Success, 5xx UnexpectedServerError;
5. otherwise Unknown: never silently Success.

Nothing is remembered here: the daemon's `aggregate.Resolver` caches its label values per
distinct raw key (one cache, where the repeated lookups are), and other callers (`explain`,
`verdict`, the info metric) resolve a key once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from acs_exporter.catalog.codes import parse_code, parse_subcode
from acs_exporter.catalog.model import (
    Category,
    CodeClass,
    CodeRule,
    Domain,
    Entry,
    Provenance,
    Resolution,
    dash,
)

# When a pair is not in the requested domain's table, the other tables are read in this order:
# call-end rows describe how calls end (the daemon's main input), then the SDK's, then Call
# Automation's; the generic tables (codes or subcodes alone) come last.
DOMAIN_ORDER = (Domain.CALL_END, Domain.CALLING_SDK, Domain.CALL_AUTOMATION, Domain.GENERIC)

DEFAULT_CLASSES = (
    CodeClass(
        200,
        299,
        Category.SUCCESS,
        "2xx codes are successful responses: the pages group 200-299 as success, and Call "
        "Automation's generic table says a 2xx code is a successful response",
    ),
    CodeClass(
        500,
        599,
        Category.UNEXPECTED_SERVER_ERROR,
        "5xx codes are server errors: the pages group 500-599 as server errors, and every "
        "5xx code they describe on its own (500, 503, 504) is a service infrastructure error",
    ),
)

_SERVICE_NAMES: dict[str, Category] = {
    "success": Category.SUCCESS,
    "expectederror": Category.EXPECTED_ERROR,
    "unexpectedclienterror": Category.UNEXPECTED_CLIENT_ERROR,
    "unexpectedservererror": Category.UNEXPECTED_SERVER_ERROR,
    # The typo Microsoft's own page carries; a log pipeline copying it should still count.
    "unxpectedclienterror": Category.UNEXPECTED_CLIENT_ERROR,
    "unxpectedservererror": Category.UNEXPECTED_SERVER_ERROR,
}
_SEPARATORS = re.compile(r"[\s_\-]+")


def normalise_category(value: object) -> Category | None:
    """A service-logged ResultCategory as a Category, or None when it is not a valid one.

    Casing, spaces, underscores and hyphens are ignored ("unexpected_server_error") and the
    documented typo "Unxpected" is read as "Unexpected". Empty, "Unknown" and anything else
    is not a category the service can vouch for.
    """
    if not isinstance(value, str):
        return None
    return _SERVICE_NAMES.get(_SEPARATORS.sub("", value).lower())


class Catalog:
    def __init__(
        self,
        entries: Sequence[Entry],
        *,
        rules: Iterable[CodeRule] = (),
        classes: Iterable[CodeClass] = DEFAULT_CLASSES,
    ) -> None:
        # A later entry with the same (domain, code, subcode) replaces an earlier one: that is
        # how override files win over the shipped data.
        merged: dict[tuple[Domain, int | None, int | None], Entry] = {}
        for entry in entries:
            merged[(entry.domain, entry.code, entry.subcode)] = entry
        self.entries: tuple[Entry, ...] = tuple(merged.values())
        self._rows: dict[tuple[int | None, int | None], dict[Domain, Entry]] = {}
        for (domain, code, subcode), entry in merged.items():
            self._rows.setdefault((code, subcode), {})[domain] = entry

        rules = tuple(rules)
        by_code: dict[int, CodeRule] = {r.code: r for r in rules if not r.without_subcode}
        self._bare_rules: dict[int, CodeRule] = {r.code: r for r in rules if r.without_subcode}
        # A code-only entry that carries a category (only user overrides do) is a rule too,
        # and the more recent word wins.
        for entry in self.entries:
            if entry.code is not None and entry.subcode is None and entry.category is not None:
                by_code[entry.code] = CodeRule(
                    entry.code,
                    entry.category,
                    f"the {entry.domain} entry for code {entry.code} gives {entry.category}",
                    entry.source,
                )
        self.rules: tuple[CodeRule, ...] = tuple(
            sorted(
                [*by_code.values(), *self._bare_rules.values()],
                key=lambda r: (r.code, r.without_subcode),
            )
        )
        self._rules = by_code
        self.classes: tuple[CodeClass, ...] = tuple(classes)

    # -- public API ---------------------------------------------------------------------------

    def resolve(
        self,
        code: object,
        subcode: object,
        service_category: str | None = None,
        domain: Domain = Domain.CALL_END,
    ) -> Resolution:
        """Category of a raw end reason, with its provenance. Raises MalformedCode.

        `code` and `subcode` as they arrive in logs (487, "487", " 0 "). A subcode that is
        None, empty or blank means "no subcode" (the record has none: resolved from the
        service's category, then the code); a junk subcode ("abc", -1) is malformed.
        """
        return self._with_opinions(
            parse_code(code), parse_subcode(subcode), service_category, Domain(domain)
        )

    def resolve_code_alone(
        self, code: object, service_category: str | None = None, domain: Domain = Domain.CALL_END
    ) -> Resolution:
        """The code of a record whose subcode is junk ("abc", -1): like a code-only lookup,
        but a rule for records *without* a subcode does not apply (code 0 with a junk subcode
        is not a normal end). Not remembered: callers cache per raw key. Raises MalformedCode.
        """
        number = parse_code(code)
        answer = self._decide(number, None, service_category, Domain(domain), bare=False)
        return replace(
            answer,
            catalog_category=answer.category,
            service_category=normalise_category(service_category),
        )

    def find(self, code: int | None, subcode: int | None) -> list[Entry]:
        """Every entry for exactly this (code, subcode), in domain order."""
        rows = self._rows.get((code, subcode), {})
        return [rows[d] for d in DOMAIN_ORDER if d in rows]

    # -- the resolution order ----------------------------------------------------------------

    def _with_opinions(
        self, code: int, subcode: int | None, service: str | None, domain: Domain
    ) -> Resolution:
        answer = self._decide(code, subcode, service, domain)
        said = normalise_category(service)
        if said is None or subcode is None or answer.provenance is Provenance.DOCUMENTED:
            # Without a subcode the service's word is part of the catalog's own answer; a
            # documented row decides before the service's word, so it is the catalog's too.
            catalog = answer.category
        else:
            catalog = self._decide(code, subcode, None, domain).category
        return replace(answer, catalog_category=catalog, service_category=said)

    def _ordered(self, code: int | None, subcode: int | None, domain: Domain) -> list[Entry]:
        rows = self._rows.get((code, subcode))
        if not rows:
            return []
        first = [rows[domain]] if domain in rows else []
        return first + [rows[d] for d in DOMAIN_ORDER if d != domain and d in rows]

    def _decide(
        self,
        code: int,
        subcode: int | None,
        service: str | None,
        domain: Domain,
        bare: bool = True,
    ) -> Resolution:
        found = self._evidence(code, subcode, domain)
        # 1. the documented (code, subcode) row
        documented = _documented(found)
        if documented is not None:
            return documented
        # 2. the category the service logged
        missing = found.missing()
        said = normalise_category(service)
        if said is not None:
            reason = f"{missing}; the service logged ResultCategory {service!r}"
            return found.answer(said, Provenance.SERVICE, reason)
        if service is not None and service.strip():
            missing += f"; service category {service!r} is not a valid category (ignored)"
        # 3. a rule for the code alone, 4. its class, 5. the generic subcode, 6. Unknown
        return (
            self._by_code_rule(found, missing, bare)
            or self._by_code_class(found, missing)
            or _by_subcode_rule(found, missing)
            or _undecided(found, missing)
        )

    def _evidence(self, code: int, subcode: int | None, domain: Domain) -> _Evidence:
        return _Evidence(
            code,
            subcode,
            domain,
            exact=self._ordered(code, subcode, domain) if subcode is not None else [],
            alone_sub=self._ordered(None, subcode, domain) if subcode is not None else [],
            alone_code=self._ordered(code, None, domain),
        )

    def _by_code_rule(self, found: _Evidence, missing: str, bare: bool) -> Resolution | None:
        """3. The rule for the code alone (first the one for records without a subcode)."""
        code = found.code
        rule = self._bare_rules.get(code) if found.subcode is None and bare else None
        rule = rule or self._rules.get(code)
        if rule is None:
            return None
        reason = f"{missing}; rule for code {code}: {rule.reason}"
        return found.answer(rule.category, Provenance.CODE_RULE, reason)

    def _by_code_class(self, found: _Evidence, missing: str) -> Resolution | None:
        """4. The class of the code (2xx, 5xx)."""
        for code_class in self.classes:
            if code_class.contains(found.code):
                reason = f"{missing}; {code_class.reason}"
                return found.answer(code_class.category, Provenance.CODE_CLASS, reason)
        return None


@dataclass(frozen=True)
class _Evidence:
    """The rows the catalog holds for one key, gathered once for every step of the order."""

    code: int
    subcode: int | None
    domain: Domain
    exact: list[Entry]  # the (code, subcode) rows, the requested domain's first
    alone_sub: list[Entry]  # rows for the subcode alone (generic tables)
    alone_code: list[Entry]  # rows for the code alone

    @property
    def key(self) -> str:
        return f"{self.code}/{dash(self.subcode)}"

    @property
    def describing(self) -> list[Entry]:
        # The code's own description before the subcode's: 502/0 is a bad gateway, and the
        # generic subcode 0 ("Success") must not speak for it.
        return self.exact + self.alone_code + self.alone_sub

    def missing(self) -> str:
        """Why no documented row decided: the start of every later step's reason."""
        if self.exact:
            return f"the documented row for {self.key} gives no category"
        if self.subcode is None:
            return f"the record has no subcode (code {self.code})"
        return f"no documented row for {self.key}"

    def answer(self, category: Category, provenance: Provenance, reason: str) -> Resolution:
        """A resolution described by the best row for the key, the others related."""
        describing = self.describing
        entry = describing[0] if describing else None
        related = tuple(describing[1:])
        return Resolution(self.code, self.subcode, category, provenance, entry, reason, related)


def _documented(found: _Evidence) -> Resolution | None:
    """1. The documented (code, subcode) row: the requested domain's, else another table's."""
    key, domain = found.key, found.domain
    for row in found.exact:
        if row.category is not None:
            where = (
                f"the {row.domain} table documents {key} as {row.category}"
                if row.domain == domain
                else f"no {domain} row for {key}; the {row.domain} table documents it "
                f"as {row.category}"
            )
            related = tuple(
                e for e in found.exact + found.alone_sub + found.alone_code if e is not row
            )
            return Resolution(
                found.code, found.subcode, row.category, Provenance.DOCUMENTED, row, where, related
            )
    return None


def _by_subcode_rule(found: _Evidence, missing: str) -> Resolution | None:
    """5. Call Automation only: the generic subcode's derived category, where the code is
    silent (a 4xx or 6xx without a rule)."""
    by_subcode = _by_generic_subcode(found.alone_sub, found.domain)
    if by_subcode is None:
        return None
    reason = (
        f"{missing}; no rule or class decides code {found.code}; the generic subcode "
        f"{found.subcode} ({by_subcode.message}) is {by_subcode.category} in Call Automation"
    )
    category = by_subcode.category or Category.UNKNOWN
    # The row that decided comes first: its notes say why, its advice fits the outcome.
    others = tuple(e for e in found.describing if e is not by_subcode)
    return Resolution(
        found.code, found.subcode, category, Provenance.SUBCODE_RULE, by_subcode, reason, others
    )


def _undecided(found: _Evidence, missing: str) -> Resolution:
    """6. Nothing applies: say so rather than guess."""
    reason = (
        f"{missing}; no rule for code {found.code}, and the pages define no category for its "
        "class (only 2xx and 5xx have one)"
    )
    return found.answer(Category.UNKNOWN, Provenance.UNKNOWN, reason)


def _by_generic_subcode(alone_sub: Sequence[Entry], domain: Domain) -> Entry | None:
    """The generic subcode row whose derived category decides a Call Automation result.

    Never for call ends: their subcodes are another numbering, and a generic subcode means
    different things under different codes, so it decides only where the code is silent.
    """
    if domain is not Domain.CALL_AUTOMATION:
        return None
    return next(
        (row for row in alone_sub if row.category is not None and row.domain is Domain.GENERIC),
        None,
    )
