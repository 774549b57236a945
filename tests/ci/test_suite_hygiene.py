"""The suite never skips because a module of this repository is missing: that was how tests
waited for another branch to land, and once it has the skip only hides a broken import (and
its message points at a branch that no longer exists). Our own modules are imported plainly."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

OWN = ("acs_exporter", "generators", "bench", "tools")


def imports_own_module(node: ast.AST) -> bool:
    for child in ast.walk(node):
        if isinstance(child, ast.ImportFrom) and (child.module or "").split(".")[0] in OWN:
            return True
        if isinstance(child, ast.Import) and any(a.name.split(".")[0] in OWN for a in child.names):
            return True
    return False


def calls_skip(node: ast.AST) -> bool:
    return any(
        isinstance(child, ast.Call)
        and isinstance(child.func, ast.Attribute)
        and child.func.attr in {"skip", "importorskip"}
        for child in ast.walk(node)
    )


def own_import_skips(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (
            isinstance(node, ast.Try)
            and any(imports_own_module(statement) for statement in node.body)
            and any(calls_skip(handler) for handler in node.handlers)
        ):
            found.append(f"{path.relative_to(REPO)}:{node.lineno}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "importorskip"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).split(".")[0] in OWN
        ):
            found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_no_test_skips_when_one_of_our_own_modules_fails_to_import() -> None:
    found = [
        where for path in sorted((REPO / "tests").rglob("*.py")) for where in own_import_skips(path)
    ]
    assert found == [], "import these plainly (a missing module is a failure):\n" + "\n".join(found)
