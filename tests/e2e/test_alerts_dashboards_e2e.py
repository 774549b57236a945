"""The alert rules and dashboards on a real Prometheus scraping the real exporter.

One scenario, about a minute: `acs-exporter run` with the simulator's `server-error-spike`
scenario on a compressed clock (one simulated minute per second) plus a files source replaying
an exported log with a broken line, and the Debian `prometheus`
server loading alerts/acs-exporter.rules.yaml unchanged, scraping and evaluating every second.
Before the spike: every recording rule has series, every dashboard query returns data, and the
spike alert's condition is false. During the spike: the condition becomes true and the alert goes
pending (its 5m `for` is longer than the test). The simulator's small share of records whose
ResultCategory contradicts the catalog (487/10003) fills the disagreement panels and sends
ACSEndReasonCategoryDisagreements pending, its look-alike (0/4521, ~2%) does not; its Call
Automation media results fill the Call Automation row without alerting.

The production rules work on this clock because a rate over 5m (or 1d) of a Prometheus that is a
minute old covers all the data there is, and the spike alert's baseline (the share over the day
that ended an hour ago) does not exist yet, in which case the share alone decides (see
docs/alerting.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import promql_parser
import pytest
import yaml
from generators.dashboard_queries import Query, queries
from stack import STARTUP_TIMEOUT_S, Running, running_stack

from conftest import REPO, azure_cli_env, token_az
from sources.azure_metrics.fake_server import TOKEN, FakeAzureMetrics

pytestmark = pytest.mark.e2e

RULES = REPO / "alerts" / "acs-exporter.rules.yaml"
DASHBOARDS = sorted((REPO / "dashboards").glob("*.json"))
SPIKE_ALERT = "ACSUnexpectedServerErrorSpike"
SEVERE_ALERT = "ACSUnexpectedServerErrorSevereSpike"

# The simulated clock: one simulated minute per real second. The spike starts 40 simulated
# minutes in (40 s after the exporter starts) and lasts long past the end of the test.
TIME_SCALE = 60
SPIKE_START_S = 40
SPIKE_SHARE = 0.5
CALLS_PER_SECOND = 20
SPIKE_DETECTION_TIMEOUT_S = 30

# A second source replays an exported log file with one unreadable line, so the outcome series
# carry a `source` label and the rejected-records panels have data. Its 16 calls are also the
# low-volume look-alike: far too few for the spike alert, whatever their share.
FIXTURE = REPO / "tests" / "fixtures" / "files" / "diagnostic.jsonl"
# Counters whose known reasons start at 0: no query fails here, so the query-error panels
# show 0 for every reason (not "no data").
ZERO_WHEN_HEALTHY = ("acs_exporter_query_errors_total",)
# Recording rules that need more history than this test has.
NEEDS_HISTORY = {
    "source:acs_call_ends_unexpected_server_error:ratio_baseline1d": "needs 1h of history",
}
# Panels that return nothing (Grafana then shows their "no value" text) until Prometheus holds
# more history than this test has: the 3-day error budget reads "not enough history".
NO_VALUE_UNTIL_HISTORY = {"Error budget left (3 days)": "needs 71h of history"}
# Panels of the shared-state families, which only state.backend azure_blob exports (this stack
# runs the file backend): no data, as on every file-backend install.
ONLY_WITH_AZURE_BLOB = {
    "Leaders",
    "Checkpoint blob reachable",
    "Leader and blob reachable, by replica",
    "Checkpoint commits and refused writes",
}
# Labels this Prometheus (one cluster, no external labels) does not add: the variable lists no
# value, its All (`.*`) matches series without the label, so every other query still has data.
# The breakdown labels are off in this stack (tests/e2e/test_breakdowns_e2e.py switches them on).
ABSENT_LABELS = {"cluster", "resource", "sdk_version", "os"}


@dataclass
class Stack(Running):
    def seconds_to_spike(self) -> float:
        return self.started + SPIKE_START_S - time.monotonic()


CALL_AUTOMATION_RESOURCE = (
    "/subscriptions/00000000-0000-4000-8000-00000000000a/resourceGroups/rg/providers/"
    "Microsoft.Communication/communicationServices/acs-bot"
)


def _platform_metrics(server: FakeAzureMetrics) -> None:
    """Healthy Call Automation traffic from 20 minutes ago to 20 minutes ahead: per minute 38
    callbacks of which 2 fail (5%, under the burst alert's share) and 40 API requests."""
    now = datetime.now(UTC)
    for offset in range(-20, 21):
        minute = now + timedelta(minutes=offset)
        for event, code, subcode, n in (
            ("PlayCompleted", "200", "0", 36),
            ("PlayFailed", "400", "8523", 2),
        ):
            dims = {"EventTypeName": event, "Code": code, "SubCode": subcode}
            server.add(CALL_AUTOMATION_RESOURCE, "AcsCallAutomationCallbackEvent", dims, minute, n)
        dims = {"Operation": "Play", "StatusCode": "202", "StatusCodeClass": "2xx"}
        server.add(CALL_AUTOMATION_RESOURCE, "APIRequestCallAutomation", dims, minute, 40)


@pytest.fixture(scope="module")
def metrics_server() -> Iterator[FakeAzureMetrics]:
    """The local Azure Monitor metrics batch API, so the Call Automation panels and rules
    (issue 15) have data on this Prometheus."""
    with FakeAzureMetrics() as server:
        _platform_metrics(server)
        yield server


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, metrics_server: FakeAzureMetrics
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    exported = tmp / "exported.jsonl"
    exported.write_text(FIXTURE.read_text("utf-8") + "{not json\n", encoding="utf-8")
    sources = [
        {
            "type": "simulator",
            "scenario": "server-error-spike",
            "time_scale": TIME_SCALE,
            "spike_start": SPIKE_START_S * TIME_SCALE,  # seconds
            "spike_duration": 86400,
            "spike_server_error_share": SPIKE_SHARE,
            "seed": 20261125,
            # 1,200 simulated call ends per real second: enough for the volume
            # minimums of the disagreement and media alerts within the test
            "calls_per_second": CALLS_PER_SECOND,
        },
        {
            "type": "files",
            "name": "exported-files",
            "paths": [str(exported)],
            "progress": False,
            "poll_interval": 1,
        },
        {
            "type": "azure_metrics",
            "name": "platform-metrics",
            "resource_ids": [CALL_AUTOMATION_RESOURCE],
            "endpoint": metrics_server.url,
            "tls_ca_file": str(metrics_server.ca_file),
            "poll_interval": "1s",
            "settle_delay": "0s",
            "initial_lookback": "20m",
        },
    ]
    env = azure_cli_env(token_az(tmp / "bin", TOKEN))  # the metrics source's credential
    with running_stack(tmp, sources, rules=RULES, env=env) as running:
        yield Stack(running.prometheus, running.exporter_url, running.started)


def recording_rules() -> list[str]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [r["record"] for g in groups for r in g["rules"] if "record" in r]


def own_interval_records() -> dict[str, int]:
    """Records of groups with an `interval` of their own (the severe tier's, 30 s), by their
    interval in seconds: this Prometheus evaluates them that seldom, so their first evaluation
    may fall after the spike has begun (test_severe_tier_condition_becomes_true_during_the_spike
    checks them)."""
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return {
        r["record"]: int(str(g["interval"]).removesuffix("s"))
        for g in groups
        if "interval" in g
        for r in g["rules"]
        if "record" in r
    }


def alert_condition(name: str) -> str:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    exprs = [r["expr"] for g in groups for r in g["rules"] if r.get("alert") == name]
    assert len(exprs) == 1
    return str(exprs[0])


def spike_condition() -> str:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    exprs = [r["expr"] for g in groups for r in g["rules"] if r.get("alert") == SPIKE_ALERT]
    assert len(exprs) == 1
    return str(exprs[0])


def dashboard_queries() -> list[Query]:
    return [q for path in DASHBOARDS for q in queries(json.loads(path.read_text("utf-8")))]


def _before_spike(stack: Stack, margin: float = 3.0) -> None:
    if stack.seconds_to_spike() < margin:
        pytest.fail("the checks before the spike took too long: the spike has begun")


# The tests below run in file order against one stack: first before the spike, then during it.


def test_recording_rules_produce_series_before_the_spike(stack: Stack) -> None:
    prometheus = stack.prometheus
    # rates need two scrapes, and the rules one evaluation after them
    prometheus.wait_for(
        "source:acs_call_ends_unexpected_server_error:ratio_rate5m", STARTUP_TIMEOUT_S
    )
    for record in recording_rules():
        if record in own_interval_records():
            continue
        result = prometheus.query(record)
        if record in NEEDS_HISTORY:
            assert not result, f"{record} exists already: the e2e assumption changed"
        else:
            assert result, f"recording rule {record} has no series"
    _before_spike(stack)


def test_spike_condition_is_false_before_the_spike(stack: Stack) -> None:
    condition = spike_condition()
    share = stack.prometheus.query(
        'source:acs_call_ends_unexpected_server_error:ratio_rate5m{source="simulator"}'
    )
    assert float(share[0]["value"][1]) < 0.02, share
    sources = stack.prometheus.query("source:acs_call_ends:rate5m")
    assert {s["metric"]["source"] for s in sources} == {"simulator", "exported-files"}
    assert stack.prometheus.query(condition) == []
    assert stack.prometheus.query(f'ALERTS{{alertname="{SPIKE_ALERT}"}}') == []
    _before_spike(stack)


@pytest.mark.parametrize("query", dashboard_queries(), ids=lambda q: f"{q.dashboard}: {q.where}")
def test_every_dashboard_query_parses_and_returns_data(stack: Stack, query: Query) -> None:
    expr = query.substituted()
    promql_parser.parse(expr)
    result = stack.prometheus.query(expr)
    if query.kind == "annotation":
        return  # firing alerts: none yet; ALERTS is checked during the spike
    if any(name in expr for name in ZERO_WHEN_HEALTHY):
        assert result, f"{query.where}: expected series at 0, got no data:\n{expr}"
        values = {float(series["value"][1]) for series in result}
        assert values == {0.0}, f"{query.where}: expected no such events in a healthy run"
        return
    if any(record in expr for record in NEEDS_HISTORY) or query.where in NO_VALUE_UNTIL_HISTORY:
        assert result == [], f"{query.where}: has history it cannot have yet"
        return
    if query.where in ONLY_WITH_AZURE_BLOB:
        assert result == [], f"{query.where}: shared-state data from a file-backend exporter"
        return
    assert result, f"{query.dashboard}: {query.where} returned no data:\n{expr}"
    if query.kind == "variable" and query.label in ABSENT_LABELS:
        assert not any(query.label in series["metric"] for series in result)
    elif query.kind == "variable":
        assert any(query.label in series["metric"] for series in result), (
            f"{query.where}: no series of {expr} has label {query.label}"
        )


def test_top_end_reasons_table_shows_catalog_messages(stack: Stack) -> None:
    table = next(q for q in dashboard_queries() if q.where == "Top end reasons")
    rows = stack.prometheus.query(table.substituted())
    assert rows
    by_reason = {(r["metric"]["code"], r["metric"]["subcode"]): r["metric"] for r in rows}
    assert by_reason[("0", "0")].get("message"), by_reason[("0", "0")]
    assert all(r["metric"].get("category") for r in rows)
    assert sum(1 for r in rows if r["metric"].get("message")) >= len(rows) // 2, rows


def test_disagreements_and_call_automation_panels_show_the_simulators_data(stack: Stack) -> None:
    """The simulator logs 487/10003 (Success in the catalog) as UnexpectedServerError for ~5%
    of that pair and emits Call Automation media results; with the default category_source the
    category label stays the catalog's."""
    table = next(q for q in dashboard_queries() if q.where == "Catalog and service disagree")
    rows = stack.prometheus.query(table.substituted())
    pairs = {
        (r["metric"]["code"], r["metric"]["subcode"]): (
            r["metric"]["catalog_category"],
            r["metric"]["service_category"],
        )
        for r in rows
    }
    assert pairs[("487", "10003")] == ("Success", "UnexpectedServerError"), pairs
    wrongly_counted = stack.prometheus.query(
        'acs_call_ends_total{code="487", subcode="10003", category="UnexpectedServerError"}'
    )
    assert wrongly_counted == [], "category_source: catalog must keep the documented category"
    media = next(
        q for q in dashboard_queries() if q.where == "Media results by operation and category"
    )
    operations = {r["metric"]["operation"] for r in stack.prometheus.query(media.substituted())}
    assert operations == {"Play", "Recognize", "StartRecording"}
    # every source kind's rejected-records counter exists at 0, not only the files source's
    rejected = stack.prometheus.query('acs_exporter_records_rejected_total{source="simulator"}')
    assert {r["metric"]["reason"] for r in rejected} == {"invalid_count"}
    assert {float(r["value"][1]) for r in rejected} == {0.0}
    _before_spike(stack)


def test_spike_condition_becomes_true_during_the_spike(stack: Stack) -> None:
    wait = stack.seconds_to_spike()
    if wait > 0:
        assert stack.prometheus.query(spike_condition()) == []
        time.sleep(wait)
    firing = stack.prometheus.wait_for(spike_condition(), SPIKE_DETECTION_TIMEOUT_S)
    assert float(firing[0]["value"][1]) > 0.05
    assert [(f["metric"]["job"], f["metric"]["source"]) for f in firing] == [
        ("acs-exporter", "simulator")
    ]
    pending = stack.prometheus.wait_for(
        f'ALERTS{{alertname="{SPIKE_ALERT}", alertstate="pending"}}', 5
    )
    assert pending[0]["metric"]["severity"] == "critical"


def test_alert_states_during_the_spike(stack: Stack) -> None:
    """What a healthy exporter with this data must and must not alert on (all still pending)."""
    alerts = stack.prometheus.query('ALERTS{alertname=~"ACS.+"}')
    by_name: dict[str, list[dict[str, str]]] = {}
    for alert in alerts:
        by_name.setdefault(alert["metric"]["alertname"], []).append(alert["metric"])
    assert {a["source"] for a in by_name[SPIKE_ALERT]} == {"simulator"}
    # the ticket-level budget burn (3x over 1d/2h) must see a 50% share too
    burns = {(a["long"], a["source"]) for a in by_name["ACSUnexpectedServerErrorBudgetBurn"]}
    assert ("1d", "simulator") in burns
    # the simulator's codes that no catalog knows, but never the malformed ones
    unknown = {(a["code"], a["subcode"]) for a in by_name["ACSUnknownEndReasons"]}
    assert ("452", "45201") in unknown
    assert not any("malformed" in pair for pair in unknown), unknown
    # the broken line of the exported file, rejected before Prometheus's first scrape
    rejected = by_name["ACSExporterRecordsRejected"]
    assert [(a["source"], a["alertstate"]) for a in rejected] == [("exported-files", "pending")]
    exporter = {n for n in by_name if n.startswith("ACSExporter")} - {"ACSExporterRecordsRejected"}
    assert not exporter, f"a healthy exporter alerts: {exporter}"
    assert "ACSUnexpectedClientErrorHigh" not in by_name
    # ~5% of 487/10003 logged against the catalog goes pending; ~2% of 0/4521 does not
    disagreeing = {
        (a["code"], a["subcode"], a["catalog_category"], a["service_category"], a["severity"])
        for a in by_name["ACSEndReasonCategoryDisagreements"]
    }
    assert disagreeing == {("487", "10003", "Success", "UnexpectedServerError", "info")}
    # a healthy voice app: media failures stay under the threshold, spike or not
    assert "ACSCallAutomationMediaFailureHigh" not in by_name


def test_severe_tier_condition_becomes_true_during_the_spike(stack: Stack) -> None:
    """The fast tier's group runs every 30 s here too: its records exist, and its condition
    (a 50% share over 2 minutes) holds once the spike outweighs the calls before it."""
    intervals = own_interval_records()
    assert intervals, "the severe tier's group has no interval of its own"
    timeout = max(intervals.values()) * 2 + SPIKE_DETECTION_TIMEOUT_S
    for record in intervals:
        assert stack.prometheus.wait_for(record, timeout), record
    firing = stack.prometheus.wait_for(alert_condition(SEVERE_ALERT), timeout)
    assert float(firing[0]["value"][1]) > 0.15
    assert [(f["metric"]["job"], f["metric"]["source"]) for f in firing] == [
        ("acs-exporter", "simulator")
    ]
