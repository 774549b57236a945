"""The rows of `acs_end_reason_info`: one per (counter, code, subcode) an outcome series can carry.

The documented join (docs/metrics.md) is

    acs_call_ends_total * on (code, subcode) group_left (message, advice, doc_url)
      acs_end_reason_info{domain="call-end"}

so every (code, subcode) label pair that `acs_call_ends_total` serves must have exactly one row
with `domain="call-end"` (and likewise `domain="call-automation"` for the media results). The
rows are: each pair the catalog documents (as the counter's domain resolves it), each code with
a rule or a code-only description under `subcode="none"`, and every pair actually observed,
including undocumented pairs, `none`, `malformed` and the guard's `other`. Generic subcode-only
rows (no code) cannot be joined on (code, subcode): their meaning is folded into the message of
the observed pairs that use them.
"""

from __future__ import annotations

from collections.abc import Iterable

from acs_exporter.catalog import Catalog, Domain, MalformedCode, Resolution
from acs_exporter.definitions import tables
from acs_exporter.definitions.metrics import FOLDED_RECORDS, MALFORMED_END_REASONS
from acs_exporter.pipeline.aggregate import MALFORMED, NO_SUBCODE, OTHER

# Which catalog tables seed each view before anything is observed.
_SEEDED_BY = {
    Domain.CALL_END: (Domain.CALL_END, Domain.CALLING_SDK, Domain.GENERIC),
    Domain.CALL_AUTOMATION: (Domain.CALL_AUTOMATION, Domain.GENERIC),
}

# (code, subcode, category, domain, message, advice, doc_url)
InfoLabels = tuple[str, str, str, str, str, str, str]

MALFORMED_ADVICE = (
    "The record's value is empty, null or not an integer: the call is counted, its reason "
    f"is unreadable. The source logs where; see {MALFORMED_END_REASONS.sample}."
)
OTHER_ADVICE = (
    "Folded by the cardinality guard: raise metrics.max_series to see these end reasons "
    f"under their own labels ({FOLDED_RECORDS.sample} counts them)."
)


class EndReasonInfo:
    """Builds the rows; remembers each pair's row (the catalog does not change while running)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._rows: dict[tuple[Domain, str, str], InfoLabels] = {}
        for view, domains in _SEEDED_BY.items():
            for entry in catalog.entries:
                if entry.domain in domains and entry.code is not None:
                    sub = NO_SUBCODE if entry.subcode is None else str(entry.subcode)
                    self.row(view, str(entry.code), sub)
        for rule in catalog.rules:  # the rules are the call-end pages'
            self.row(Domain.CALL_END, str(rule.code), NO_SUBCODE)
        self._seeded = tuple(self._rows.values())
        self._last: tuple[frozenset[tuple[str, str, str]], tuple[tuple[InfoLabels, float], ...]]
        self._last = (frozenset(), tuple((labels, 1.0) for labels in self.rows()))

    def samples(
        self, observed: Iterable[tuple[str, str, str]] = ()
    ) -> tuple[tuple[InfoLabels, float], ...]:
        """The family's samples; the very same tuple while the observed pairs do not change,
        so the renderer can reuse its text from one scrape to the next (exposition/text.py)."""
        pairs = frozenset(observed)
        if pairs != self._last[0]:
            self._last = (pairs, tuple((labels, 1.0) for labels in self.rows(pairs)))
        return self._last[1]

    def rows(self, observed: Iterable[tuple[str, str, str]] = ()) -> list[InfoLabels]:
        """The seeded rows plus one per observed (family, code label, subcode label)."""
        extra = set()
        for family, code, subcode in observed:
            table = tables.by_state_key(family)  # the family's table says its domain
            if table is not None:
                extra.add(self.row(table.domain, code, subcode))
        return sorted(set(self._seeded) | extra)

    def row(self, view: Domain, code: str, subcode: str) -> InfoLabels:
        key = (view, code, subcode)
        found = self._rows.get(key)
        if found is None:
            found = self._rows[key] = self._build(view, code, subcode)
        return found

    def _build(self, view: Domain, code: str, subcode: str) -> InfoLabels:
        def labels(category: str, message: str, advice: str, url: str) -> InfoLabels:
            return (code, subcode, category, view.value, message, advice, url)

        if code == OTHER:
            return labels(
                "", "End reasons folded together by the cardinality guard.", OTHER_ADVICE, ""
            )
        if code == MALFORMED:
            return labels(
                "", "The end code is empty, null or not an integer.", MALFORMED_ADVICE, ""
            )
        if subcode == OTHER:  # the guard folded new subcodes of a known code (guard.py)
            return labels(
                "",
                f"Subcodes of code {code} folded together by the cardinality guard.",
                OTHER_ADVICE,
                "",
            )
        try:
            if subcode == MALFORMED:
                resolution = self._catalog.resolve_code_alone(code, None, view)
            else:
                sub = None if subcode == NO_SUBCODE else subcode
                resolution = self._catalog.resolve(code, sub, None, view)
        except MalformedCode:  # a label value this exporter never writes
            return labels("", "Not an end reason this exporter labels.", MALFORMED_ADVICE, "")
        message, advice, url = describe(resolution, subcode)
        return labels(resolution.category.value, message, advice, url)


def describe(resolution: Resolution, subcode_label: str) -> tuple[str, str, str]:
    """(message, advice, doc_url) for a pair: the documented row's own, else composed, saying
    that the pair is undocumented and naming the code's description first (502/0 is a bad
    gateway; the generic subcode 0 row's "Success" must not speak for it)."""
    entry = resolution.entry
    if resolution.documented and entry is not None:
        return entry.message, entry.advice, entry.source
    code_alone = next(
        (e for e in (entry, *resolution.related) if e and e.code is not None and e.subcode is None),
        None,
    )
    sub_alone = next(
        (e for e in (entry, *resolution.related) if e and e.code is None and e.subcode is not None),
        None,
    )
    if subcode_label == MALFORMED:
        head = f"Code {resolution.code} with a subcode that is not an integer."
    elif resolution.subcode is None:
        head = f"Code {resolution.code} without a subcode."
    else:
        head = f"Undocumented pair {resolution.key}."
    if sub_alone is not None and sub_alone.subcode == 0:
        sub_alone = None  # the generic "0 Success" restates the code; it never explains a failure
    parts = [head]
    undocumented_pair = resolution.subcode is not None and subcode_label != MALFORMED
    if code_alone is not None:
        # Undocumented pairs can be many (one row each): their rows stay short and point to
        # the code's own row (`code/none`), which carries the full text and the page.
        said = _first_sentence(code_alone.message) if undocumented_pair else code_alone.message
        parts.append(f"Code {code_alone.code}: {_sentence(said)}")
    if sub_alone is not None and resolution.subcode is not None:
        parts.append(f"Subcode {sub_alone.subcode} (generic): {_sentence(sub_alone.message)}")
    if code_alone is None and sub_alone is None:
        parts.append(
            f"No page describes it; the catalog's {resolution.provenance.value} step gives "
            f"{resolution.category.value}."
        )
    chosen = code_alone or sub_alone
    subcode_arg = "" if resolution.subcode is None else f" {resolution.subcode}"
    advice = (
        chosen.advice
        if chosen is not None
        else f"Run `acs-exporter explain {resolution.code}{subcode_arg}` to see why."
    )
    if subcode_label == MALFORMED:
        advice = MALFORMED_ADVICE
    elif undocumented_pair:
        advice = f"Run acs-exporter explain {resolution.code} {resolution.subcode}."
        return " ".join(parts), advice, ""
    return " ".join(parts), advice, "" if chosen is None else chosen.source


def _first_sentence(text: str) -> str:
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."
