"""Resolution of an end reason (code, subcode) to a category, and how it was decided.

Order (docs/catalog.md explains each step):
1. the documented (code, subcode) row: the requested domain's table first, then the others;
2. the category the service logged for the record (ResultCategory), when it is a valid one;
3. a rule for the code alone, derived from the pages' code-only descriptions;
4. the class of the code where the pages define one: 2xx Success, 5xx UnexpectedServerError;
5. otherwise Unknown: never silently Success.

Every answer for a raw key is remembered, so repeated keys cost one dictionary access.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

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

# Remembered answers per domain. Distinct raw keys are few in real logs (tens to hundreds);
# the bound keeps junk input from growing memory without limit.
MEMO_LIMIT = 65_536

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
        self._memo: dict[str, dict[tuple[object, object, object], Resolution]] = {
            domain: {} for domain in Domain
        }

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
        memo = self._memo[domain]
        # Only exact int/str keys are remembered: True == 1 and 487.0 == 487 hash alike, and
        # must still be refused by the parser rather than answered from the memo.
        cacheable = (
            (type(code) is int or type(code) is str)
            and (subcode is None or type(subcode) is int or type(subcode) is str)
            and (service_category is None or type(service_category) is str)
        )
        if cacheable:
            hit = memo.get((code, subcode, service_category))
            if hit is not None:
                return hit
        number = parse_code(code)
        sub = parse_subcode(subcode)
        answer = self._with_opinions(number, sub, service_category, Domain(domain))
        if cacheable and len(memo) < MEMO_LIMIT:
            memo[(code, subcode, service_category)] = answer
        return answer

    def lookup(
        self, code: int, subcode: int | None, domain: Domain = Domain.CALL_END
    ) -> Resolution:
        """Fast path for already-parsed ints and no service category: one dictionary access.

        A miss falls back to `resolve`, which validates the values.
        """
        hit = self._memo[domain].get((code, subcode, None))
        return hit if hit is not None else self.resolve(code, subcode, None, domain)

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
        if said is None or subcode is None:
            # Without a subcode the service's word is part of the catalog's own answer.
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
        key = f"{code}/{dash(subcode)}"
        exact = self._ordered(code, subcode, domain) if subcode is not None else []
        alone_sub = self._ordered(None, subcode, domain) if subcode is not None else []
        alone_code = self._ordered(code, None, domain)

        # 1. the documented (code, subcode) row
        for row in exact:
            if row.category is not None:
                where = (
                    f"the {row.domain} table documents {key} as {row.category}"
                    if row.domain == domain
                    else f"no {domain} row for {key}; the {row.domain} table documents it "
                    f"as {row.category}"
                )
                related = tuple(e for e in exact + alone_sub + alone_code if e is not row)
                return Resolution(
                    code, subcode, row.category, Provenance.DOCUMENTED, row, where, related
                )

        # The code's own description before the subcode's: 502/0 is a bad gateway, and the
        # generic subcode 0 ("Success") must not speak for it.
        describing = exact + alone_code + alone_sub
        entry = describing[0] if describing else None
        related = tuple(describing[1:])
        if exact:
            missing = f"the documented row for {key} gives no category"
        elif subcode is None:
            missing = f"the record has no subcode (code {code})"
        else:
            missing = f"no documented row for {key}"

        # 2. the category the service logged
        if service is not None:
            category = normalise_category(service)
            if category is not None:
                reason = f"{missing}; the service logged ResultCategory {service!r}"
                return Resolution(
                    code, subcode, category, Provenance.SERVICE, entry, reason, related
                )
            if service.strip():
                missing += f"; service category {service!r} is not a valid category (ignored)"

        # 3. the rule for the code alone (first the one for records without a subcode)
        rule = self._bare_rules.get(code) if subcode is None and bare else None
        rule = rule or self._rules.get(code)
        if rule is not None:
            reason = f"{missing}; rule for code {code}: {rule.reason}"
            return Resolution(
                code, subcode, rule.category, Provenance.CODE_RULE, entry, reason, related
            )

        # 4. the class of the code
        for code_class in self.classes:
            if code_class.contains(code):
                reason = f"{missing}; {code_class.reason}"
                return Resolution(
                    code,
                    subcode,
                    code_class.category,
                    Provenance.CODE_CLASS,
                    entry,
                    reason,
                    related,
                )

        # 5. Call Automation only: the generic subcode's derived category, where the code is
        # silent (a 4xx or 6xx without a rule).
        by_subcode = _by_generic_subcode(alone_sub, domain)
        if by_subcode is not None:
            reason = (
                f"{missing}; no rule or class decides code {code}; the generic subcode "
                f"{subcode} ({by_subcode.message}) is {by_subcode.category} in Call Automation"
            )
            category = by_subcode.category or Category.UNKNOWN
            # The row that decided comes first: its notes say why, its advice fits the outcome.
            others = tuple(e for e in describing if e is not by_subcode)
            return Resolution(
                code, subcode, category, Provenance.SUBCODE_RULE, by_subcode, reason, others
            )

        # 6. nothing applies: say so rather than guess
        reason = (
            f"{missing}; no rule for code {code}, and the pages define no category for its "
            "class (only 2xx and 5xx have one)"
        )
        return Resolution(
            code, subcode, Category.UNKNOWN, Provenance.UNKNOWN, entry, reason, related
        )


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
