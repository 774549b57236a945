"""The documented join of acs_end_reason_info, on a real Prometheus scraping the real exporter.

Every (code, subcode) series of acs_call_ends_total must find exactly one info row with

    acs_call_ends_total * on (code, subcode) group_left (message, advice, doc_url)
      acs_end_reason_info{domain="call-end"}

(and the media results with domain="call-automation"): documented pairs, pairs resolved by a
rule, undocumented pairs, records without a subcode (`none`) and malformed ones. The exporter
reads an exported log with such records plus the simulator's default mix (junk codes,
undocumented codes, generic subcodes); the dashboards' own Top end reasons query must then give
every row a message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from generators.dashboard_queries import queries
from stack import STARTUP_TIMEOUT_S, Prometheus, running_stack

from conftest import REPO

pytestmark = pytest.mark.e2e

CALLS = [
    ("0", "", "Success"),
    ("0", None, ""),
    ("0", " ", "expectedError"),
    ("500", "", ""),
    (" 487 ", " 10004 ", "EXPECTEDERROR"),
    ("502", "0", ""),  # undocumented pair, generic subcode 0
    ("486", "1", ""),  # nothing documented
    ("0", "abc", ""),  # malformed subcode
    ("", "", ""),  # malformed code
]
MEDIA = [("200", None, "Play"), ("400", "8510", "Recognize"), ("400", "8523", "Play")]
JOIN = 'group_left (message, advice, doc_url) acs_end_reason_info{domain="%s"}'


def exported_log() -> str:
    lines = []
    for code, subcode, category in CALLS:
        properties = {"participantEndReason": code, "resultCategory": category}
        if subcode is not None:
            properties["participantEndSubCode"] = subcode
        lines.append(json.dumps({"category": "CallSummary", "properties": properties}))
    for code, subcode, operation in MEDIA:
        media = {"resultCode": code, "operationName": operation}
        if subcode is not None:
            media["resultSubcode"] = subcode
        lines.append(json.dumps({"category": "CallAutomationMediaSummary", "properties": media}))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    tmp = tmp_path_factory.mktemp("info-join")
    exported = tmp / "exported.jsonl"
    exported.write_text(exported_log(), encoding="utf-8")
    sources = [
        {"type": "simulator", "time_scale": 60, "seed": 7},
        {
            "type": "files",
            "name": "exported",
            "paths": [str(exported)],
            "progress": False,
            "poll_interval": 1,
        },
    ]
    with running_stack(tmp, sources) as running:
        client = running.prometheus
        # The exported file's series are in once its malformed code is scraped.
        client.wait_for(
            'acs_call_ends_total{source="exported", code="malformed"}', STARTUP_TIMEOUT_S * 3
        )
        client.wait_for(
            'acs_call_automation_media_results_total{source="exported"}', STARTUP_TIMEOUT_S
        )
        yield client


@pytest.mark.parametrize(
    ("counter", "domain"),
    [
        ("acs_call_ends_total", "call-end"),
        ("acs_call_automation_media_results_total", "call-automation"),
    ],
)
def test_every_served_pair_finds_its_info_row_with_the_documented_join(
    prometheus: Prometheus, counter: str, domain: str
) -> None:
    time.sleep(2)  # one more scrape: the info rows and the counts come from the same snapshot
    served = prometheus.query(counter)
    assert served
    joined = prometheus.query(f"{counter} * on (code, subcode) {JOIN % domain}")
    missing = prometheus.query(
        f'{counter} unless on (code, subcode) acs_end_reason_info{{domain="{domain}"}}'
    )
    assert missing == [], [m["metric"] for m in missing]
    assert len(joined) == len(served)
    assert all(row["metric"].get("message") for row in joined)


def test_the_pairs_this_issue_is_about_are_served_and_explained(prometheus: Prometheus) -> None:
    rows = prometheus.query(
        f'acs_call_ends_total{{source="exported"}} * on (code, subcode) {JOIN % "call-end"}'
    )
    by_pair = {(r["metric"]["code"], r["metric"]["subcode"]): r["metric"] for r in rows}
    assert by_pair[("0", "none")]["category"] in {"Success", "ExpectedError"}
    assert by_pair[("500", "none")]["category"] == "UnexpectedServerError"
    assert "Bad gateway" in by_pair[("502", "0")]["message"]
    assert "Success" not in by_pair[("502", "0")]["message"]
    assert "Undocumented pair 502/0" in by_pair[("502", "0")]["message"]
    assert ("486", "1") in by_pair
    assert ("0", "malformed") in by_pair
    assert ("malformed", "none") in by_pair
    assert not any(code == "" for code, _ in by_pair)


def test_the_dashboards_top_end_reasons_give_every_row_a_message(prometheus: Prometheus) -> None:
    path = REPO / "dashboards" / "acs-call-end-reasons.json"
    table = next(
        q for q in queries(json.loads(path.read_text("utf-8"))) if q.where == "Top end reasons"
    )
    rows = prometheus.query(table.substituted())
    assert rows
    assert [r["metric"] for r in rows if not r["metric"].get("message")] == []
