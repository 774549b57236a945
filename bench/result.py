"""One row of the benchmark table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    benchmark: str
    measure: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: informational, no target

    @staticmethod
    def header() -> Result:
        return Result("benchmark", "measure", "value", "target", None)

    def cells(self) -> tuple[str, str, str, str, str]:
        if self.benchmark == "benchmark":
            verdict = "verdict"
        else:
            verdict = {True: "ok", False: "MISSED", None: ""}[self.ok]
        return (self.benchmark, self.measure, self.value, self.target, verdict)
