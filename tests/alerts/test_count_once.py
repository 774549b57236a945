"""Rules and dashboards count what a shared-state deployment's replicas all serve the same way:
with `generators/count_once.py`'s one expression (its behaviour is promtool-tested in
alerts/tests/shared-state.test.yaml and against real replicas in test_shared_state_scrape.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from generators.count_once import one_copy

from conftest import REPO

RULES = REPO / "alerts" / "acs-exporter.rules.yaml"
DASHBOARDS = sorted((REPO / "dashboards").glob("*.json"))
LEADER_JOIN = re.compile(r"\band on \(job, instance\) acs_exporter_state_leader\b")
# The shared copy of one_copy: `max without (instance, pod) (<vector> and on ... leader...)`.
SHARED_COPY = re.compile(
    r"max without \(instance, pod\) \(\s*[^()]*(?:\([^()]*(?:\([^()]*\)[^()]*)*\)[^()]*)*?"
    r"\s+and on \(job, instance\) acs_exporter_state_leader\b"
)


def _exprs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "expr" and isinstance(item, str):
                yield item
            else:
                yield from _exprs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _exprs(item)


def _joins(text: str) -> tuple[int, int]:
    """(joins on the leader metric, of them inside one_copy's shared branch)."""
    return len(LEADER_JOIN.findall(text)), len(SHARED_COPY.findall(text))


@pytest.mark.parametrize("path", [RULES, *DASHBOARDS], ids=lambda p: Path(p).name)
def test_every_join_on_the_leader_metric_is_count_once(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    exprs = list(_exprs(json.loads(text))) if path.suffix == ".json" else [text]
    for expr in exprs:
        joins, shared = _joins(expr)
        assert joins == shared, expr


def test_the_rules_and_the_dashboards_use_it() -> None:
    rules = _joins(RULES.read_text(encoding="utf-8"))[1]
    dashboards = sum(_joins(p.read_text(encoding="utf-8"))[1] for p in DASHBOARDS)
    assert rules > 0
    assert dashboards > 0


def test_one_line_and_multi_line_are_the_same_expression() -> None:
    vector, leader = 'rate(acs_call_ends_total{job="x"}[5m])', "acs_exporter_state_leader"
    lines = one_copy(vector, leader)
    assert " ".join(lines.split()).replace("( ", "(").replace(" )", ")") == one_copy(
        vector, leader, one_line=True
    )
