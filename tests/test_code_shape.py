"""No function in the exporter package or the generators is longer than MAX_LINES: a long
function does several jobs, and each job deserves a name (and a test of its own)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

MAX_LINES = 80
CHECKED = (REPO / "exporter" / "acs_exporter", REPO / "generators")


def functions(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function and method in `path`, nested ones included, in line order."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = [
        node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    return sorted(found, key=lambda node: node.lineno)


def long_functions(root: Path, base: Path = REPO, max_lines: int = MAX_LINES) -> list[str]:
    """`file:line name (N lines)` for each function under `root` longer than `max_lines`,
    counted from its `def` (decorators aside) to its last line."""
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in functions(path):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            if length > max_lines:
                where = path.relative_to(base)
                offenders.append(f"{where}:{node.lineno} {node.name} ({length} lines)")
    return offenders


def test_no_function_is_longer_than_80_lines() -> None:
    offenders = [line for root in CHECKED for line in long_functions(root)]
    assert offenders == [], "split these into smaller, named functions:\n" + "\n".join(offenders)


def body(lines: int, indent: str = "    ") -> str:
    return "".join(f"{indent}x{i} = {i}\n" for i in range(lines))


def test_the_check_counts_from_def_to_last_line_and_finds_methods(tmp_path: Path) -> None:
    (tmp_path / "fits.py").write_text("@decorator\n@another\ndef fits():\n" + body(MAX_LINES - 1))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "long.py").write_text(
        "class A:\n"
        "    def method(self):\n" + body(MAX_LINES, " " * 8) + "\n"
        "async def coroutine():\n" + body(MAX_LINES)
    )
    assert long_functions(tmp_path, base=tmp_path) == [
        "pkg/long.py:2 method (81 lines)",
        "pkg/long.py:84 coroutine (81 lines)",
    ]
