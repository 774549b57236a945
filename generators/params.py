"""Thresholds the Helm chart fills in at render time, as markers inside the generated rules.

generators/rules.py builds every rule from a Thresholds model. For the plain rule file each
threshold is a value; for the chart's template (generators/helm_rules.py) the tunable ones are
`Param`s: strings holding a marker `\\0<form>:<key path>\\0` that passes through the rule
builders' f-strings untouched, and which helm_rules turns into a Go-template expression reading
the merged thresholds. So the rules are defined once, and the chart cannot drift from them.

A builder that computes with a threshold (`_number`, `_percent`, seconds) asks for the matching
form (`Param.form`) instead of computing: the Go template computes it at render time.
"""

from __future__ import annotations

import re

# The forms a threshold takes in a rule: as written (raw), a number as `%.6g`, a share as a
# percentage, a duration as seconds, text with double quotes turned into single ones.
FORMS = ("raw", "number", "percent", "seconds", "single_quoted")
MARKER = re.compile("\0([a-z_]+):([a-z_.]+)\0")


class Param(str):
    """A tunable threshold, standing for the value at `path` (keys joined by dots)."""

    path: str

    def __new__(cls, path: str) -> Param:
        param = super().__new__(cls, marker("raw", path))
        param.path = path
        return param

    def form(self, form: str) -> str:
        return marker(form, self.path)


def marker(form: str, path: str) -> str:
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r} of threshold {path}")
    return f"\0{form}:{path}\0"


def is_param(value: object) -> bool:
    return isinstance(value, Param)
