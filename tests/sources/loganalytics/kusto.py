"""Python side of the Kusto checker: one Node process speaking JSON lines (kusto_check.js)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .schemas import TABLES

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "kusto_check.js"
PACKAGE = HERE.parents[2] / "tools" / "kusto" / "node_modules" / "@kusto" / "language-service-next"


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    code: str
    message: str
    start: int
    length: int

    def describe(self, query: str) -> str:
        line = query.count("\n", 0, self.start) + 1
        return f"{self.severity} {self.code} at line {line}: {self.message}"


@dataclass(frozen=True)
class Analysis:
    diagnostics: tuple[Diagnostic, ...]
    columns: tuple[tuple[str, str], ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "Error")


class KustoChecker:
    """Thread-safe; start once per test session (start-up costs ~1 s, each query a few ms)."""

    def __init__(
        self,
        database: str = "workspace",
        tables: Mapping[str, tuple[tuple[str, str], ...]] = TABLES,
    ) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed")
        self._schema = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the process
            "w", suffix=".json", delete=False
        )
        self.tables = dict(tables)  # the schema it checks against (the fake server's tables)
        json.dump({"database": database, "tables": self.tables}, self._schema)
        self._schema.close()
        self._process = subprocess.Popen(
            [node, str(SCRIPT), self._schema.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._lock = threading.Lock()
        self._next_id = 0
        ready = self._read()
        if not ready.get("ready"):
            raise RuntimeError(f"Kusto checker did not start: {ready}")

    def _read(self) -> dict[str, object]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("Kusto checker exited")
        answer: dict[str, object] = json.loads(line)
        return answer

    def analyze(self, query: str) -> Analysis:
        assert self._process.stdin is not None
        with self._lock:
            self._next_id += 1
            self._process.stdin.write(json.dumps({"id": self._next_id, "query": query}) + "\n")
            self._process.stdin.flush()
            answer = self._read()
        if "failure" in answer:
            raise RuntimeError(f"Kusto checker failed: {answer['failure']}")
        diagnostics = answer["diagnostics"]
        columns = answer["columns"]
        assert isinstance(diagnostics, list)
        assert isinstance(columns, list)
        return Analysis(
            tuple(Diagnostic(**d) for d in diagnostics),
            tuple((c["name"], c["type"]) for c in columns),
        )

    def close(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        Path(self._schema.name).unlink(missing_ok=True)
