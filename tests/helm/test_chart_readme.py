"""The chart README's examples install as written, and it tells the truth about what Prometheus
scrapes: readiness gates the Service's traffic, not the scrape (the ServiceMonitor keeps an
unready pod as a target), so no page may say an unready pod goes unscraped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_python.chart import Chart
from helm_support import CHART_DIR, chart_with_content, render
from test_chart_render import assert_installs_cleanly
from test_chart_web import HASH

from conftest import REPO

README = CHART_DIR / "README.md"
TOP_LEVEL_KEYS = set(yaml.safe_load((CHART_DIR / "values.yaml").read_text()))
PAGES = [README, REPO / "docs" / "kubernetes.md"]


# What a reader puts in place of the README's placeholders.
PLACEHOLDERS = {
    "<managed identity client id>": "00000000-0000-0000-0000-000000000000",
    "<Log Analytics workspace id>": "11111111-1111-1111-1111-111111111111",
    "$2y$10$...": HASH,
}


def values_blocks(path: Path) -> list[dict[str, Any]]:
    """The ```yaml blocks that are chart values (their keys are values.yaml's)."""
    blocks = []
    for block in re.findall(r"```yaml\n(.*?)```", path.read_text(), flags=re.DOTALL):
        text = block
        for placeholder, value in PLACEHOLDERS.items():
            text = text.replace(placeholder, value)
        loaded = yaml.safe_load(text)
        if isinstance(loaded, dict) and set(loaded) <= TOP_LEVEL_KEYS:
            blocks.append(loaded)
    return blocks


def test_the_readme_has_the_examples_users_copy() -> None:
    keys = {key for block in values_blocks(README) for key in block}
    assert {"catalogOverrides", "serviceMonitor", "web", "extraObjects"} <= keys


def test_every_values_example_of_the_readme_installs(tmp_path: Path) -> None:
    chart = chart_with_content(tmp_path)
    with Chart.load(chart) as loaded:
        for block in values_blocks(README):
            loaded.validate_schema(block)
    for block in values_blocks(README):
        assert_installs_cleanly(block, chart)


# Ways of saying "only a ready pod is scraped"; a sentence offering the relabeling that does
# it on purpose ("... anyway", "keep") is fine.
READY_ONLY_CLAIMS = [
    re.compile(r"scraped[^.]*\bonly\b", re.IGNORECASE),
    re.compile(r"\bonly\b[^.]*\bready\b[^.]*\bscraped\b", re.IGNORECASE),
    re.compile(r"\b(unready|not ready)\b[^.]*\b(is|are) not scraped\b", re.IGNORECASE),
    re.compile(r"\bscrapes? only ready\b", re.IGNORECASE),
]


def sentences(text: str) -> list[str]:
    flat = re.sub(r"\s+", " ", text)
    return re.split(r"(?<=[.!?])\s", flat)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_no_page_claims_prometheus_scrapes_only_ready_pods(page: Path) -> None:
    claims = [
        sentence
        for sentence in sentences(page.read_text())
        if any(claim.search(sentence) for claim in READY_ONLY_CLAIMS)
        and not re.search(r"\b(anyway|either way|keep)\b", sentence)
    ]
    assert claims == []


def test_the_claim_check_catches_the_old_wording() -> None:
    old = "The pod is marked ready (and scraped through the Service) only then."
    assert any(claim.search(old) for claim in READY_ONLY_CLAIMS)


def test_the_readme_says_unready_pods_are_scraped_and_how_to_keep_ready_ones() -> None:
    text = re.sub(r"\s+", " ", README.read_text())
    assert "keeps an unready pod as a target" in text
    (keep_ready,) = [
        block
        for block in values_blocks(README)
        if "__meta_kubernetes_endpoint_ready" in str(block.get("serviceMonitor", {}))
    ]
    endpoint = render(keep_ready).one("ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["relabelings"] == [
        {"sourceLabels": ["__meta_kubernetes_endpoint_ready"], "regex": "true", "action": "keep"}
    ]
