"""Bad input, and where it is: the one error type of the config, catalog and web config loaders.

Every command prints it the same way (`render`):

    invalid configuration (2 problems):
      config.yaml:4: log.level: Input should be 'debug', 'info', 'warn' or 'error'
      config.yaml:7: sources[0].calls_per_second = -1: Input should be greater than 0

The value is shown only as `acs_exporter.inputs.redact.shown_value` allows (numbers, booleans,
durations): the producers of problems never format a value themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class InputProblem:
    where: str  # file:line[:column], file, "environment variable X" or "command-line flag --x"
    field: str  # dotted path, e.g. sources[0].calls_per_second; "" for the whole file
    value: str  # as redact.shown_value shows it; "" when it is not shown (or missing)
    message: str  # what is wrong, or what was expected

    def render(self) -> str:
        field = f"{self.field} = {self.value}" if self.value else self.field
        return (
            f"{self.where}: {field}: {self.message}" if field else f"{self.where}: {self.message}"
        )


class InputError(Exception):
    """One or more problems of one kind of input; `subject` names it in the first line."""

    subject = "input"

    def __init__(self, problems: Sequence[InputProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = f"invalid {self.subject} ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  {problem.render()}" for problem in self.problems)])

    def __str__(self) -> str:
        return self.render()
