"""What the simulator generates: a production-like mix of call ends, and how scenarios bend it.

The mix is hand-weighted from the end codes Microsoft documents for ACS calling (the
"Calling end call codes and subcodes" table, and the Call Automation generic subcodes for the
server side), so dashboards built on the simulator look like a real resource: mostly 0/0, then
cancellations and declines, unreachable targets, network drops, a trickle of server errors, of
codes no catalog knows, of empty subcodes, undocumented pairs and categories the service logs
against the documentation, and of junk values as real logs have them. Calls a server endpoint
ends also produce Call Automation media results (play, recognize, recording).

Each participant call end is drawn in two steps: a *profile* (call type, endpoint type,
participant type: the dimensions) and then an end reason from the profile's mix. Scenarios only
change the share of server errors, which keeps their effect easy to reason about and to test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from itertools import accumulate
from typing import Literal

Scenario = Literal["steady", "server-error-spike", "bad-release"]

SUCCESS = "Success"
EXPECTED = "ExpectedError"
CLIENT = "UnexpectedClientError"
SERVER = "UnexpectedServerError"

# Share of records whose ResultCategory is empty, as on older ACS records.
EMPTY_CATEGORY_SHARE = 0.05
# Share of UnexpectedServerError outside a spike: a healthy resource still sees a few.
BASELINE_SERVER_ERROR_SHARE = 0.004


@dataclass(frozen=True, slots=True)
class Reason:
    """One end reason exactly as ACSCallSummary carries it: strings, possibly junk."""

    code: str | None
    subcode: str | None
    service_category: str  # ResultCategory as logged; "" when the service left it empty


@dataclass(frozen=True, slots=True)
class Profile:
    call_type: str
    endpoint_type: str
    participant_type: str
    mix: str  # key into MIXES

    @property
    def dimensions(self) -> tuple[tuple[str, str], ...]:
        # Sorted by name, as Observation.dimensions requires.
        return (
            ("call_type", self.call_type),
            ("endpoint_type", self.endpoint_type),
            ("participant_type", self.participant_type),
        )


def _r(code: str | None, subcode: str | None, category: str) -> Reason:
    return Reason(code, subcode, category)


# (profile, weight): who ends calls. Weights are relative.
PROFILES: tuple[tuple[Profile, float], ...] = (
    (Profile("P2P", "VoIP", "ACS", "voip"), 34),
    (Profile("Group", "VoIP", "ACS", "voip"), 24),
    (Profile("Group", "VoIP", "Teams", "voip"), 8),
    (Profile("Group", "VoIP", "ACS as Teams external user", "voip"), 4),
    (Profile("P2P", "PSTN", "ACS", "pstn"), 11),
    (Profile("Group", "PSTN", "ACS", "pstn"), 6),
    (Profile("P2P", "Server", "ACS", "server"), 7),
    (Profile("Group", "Server", "ACS", "server"), 3),
    (Profile("Group", "BOT", "ACS", "server"), 3),
)

# Codes that no catalog documents, and junk that real logs contain. Shared by every mix.
UNKNOWN_REASONS: tuple[tuple[Reason, float], ...] = (
    (_r("452", "45201", ""), 0.6),
    (_r("701", "70105", ""), 0.4),
)
JUNK_REASONS: tuple[tuple[Reason, float], ...] = (
    (_r("", "", ""), 0.2),
    (_r(None, None, ""), 0.1),
    (_r("N/A", "0", ""), 0.1),
)

# Per-mille weights of the non-server-error end reasons, per kind of endpoint.
MIXES: dict[str, tuple[tuple[Reason, float], ...]] = {
    "voip": (
        (_r("0", "0", SUCCESS), 690),
        (_r("0", "4097", SUCCESS), 18),  # meeting organizer ended the call for all
        (_r("0", "5000", SUCCESS), 16),  # removed by another participant
        (_r("0", "5300", SUCCESS), 10),
        (_r("0", "7000", SUCCESS), 12),  # ended by Call Automation or a bot
        (_r("0", "4521", EXPECTED), 14),  # user closed the app abruptly
        (_r("0", "5317", EXPECTED), 2),
        (_r("487", "0", SUCCESS), 38),  # caller cancelled
        (_r("487", "10003", SUCCESS), 26),  # accepted on another endpoint
        (_r("487", "10004", EXPECTED), 16),  # ring timeout
        (_r("487", "10024", SUCCESS), 6),
        (_r("603", "0", SUCCESS), 30),  # declined
        (_r("480", "10037", EXPECTED), 12),  # unreachable: no endpoint registered
        (_r("480", "10076", EXPECTED), 8),
        (_r("480", "10077", EXPECTED), 5),
        (_r("480", "10078", EXPECTED), 5),
        (_r("408", "10057", EXPECTED), 6),  # callee did not finish setup
        (_r("408", "4506", CLIENT), 4),
        (_r("490", "4502", CLIENT), 4),  # network drops
        (_r("496", "7", EXPECTED), 4),
        (_r("410", "3100", CLIENT), 3),
        (_r("410", "3101", CLIENT), 3),
        (_r("410", "3112", EXPECTED), 3),
        (_r("410", "301004", CLIENT), 2),
        (_r("410", "301005", CLIENT), 3),
        (_r("495", "4507", CLIENT), 1),  # token not refreshed
        (_r("401", "10009", CLIENT), 1),
        (_r("403", "5828", CLIENT), 1),
    ),
    "pstn": (
        (_r("0", "560000", SUCCESS), 440),  # remote PSTN party hung up
        (_r("0", "540000", SUCCESS), 300),  # local PSTN caller hung up
        (_r("487", "540487", SUCCESS), 60),
        (_r("486", "560486", SUCCESS), 60),  # busy
        (_r("603", "0", SUCCESS), 30),
        (_r("408", "10057", EXPECTED), 10),
        (_r("403", "510403", EXPECTED), 5),  # blocked as spam
        (_r("490", "4502", CLIENT), 3),
    ),
    "server": (
        (_r("0", "7000", SUCCESS), 700),
        (_r("0", "0", SUCCESS), 200),
        (_r("0", "5300", SUCCESS), 50),
        (_r("487", "10004", EXPECTED), 20),
        (_r("408", "10057", EXPECTED), 8),
    ),
}

# UnexpectedServerError: "500, 503, 504: Communication Services infrastructure error". The
# call-end table documents these codes alone, with no subcode; a call end that carries no
# further detail has subcode 0 (as 487/0 and 603/0 do). The generic subcodes 9001, 9002 and
# 8518 belong to Call Automation and appear in its media results below, not here.
SERVER_ERROR_REASONS: tuple[tuple[Reason, float], ...] = (
    (_r("500", "0", SERVER), 50),
    (_r("503", "0", SERVER), 30),
    (_r("504", "0", SERVER), 20),
)

# What real logs also hold, a little of each, in every mix (per mille, like MIXES):
# - an empty or missing subcode beside a documented code (counted, labelled malformed);
# - a pair the catalog does not document for a documented code (the service's category
#   decides);
# - the service's category disagreeing with the documented row: 487/10003 ("accepted on
#   another endpoint", Success in the table) logged as UnexpectedServerError for about 5% of
#   that pair (enough for ACSEndReasonCategoryDisagreements), and 0/4521 (user closed the app,
#   ExpectedError) logged as UnexpectedClientError for about 2% of it (too few to alert).
ODD_REASONS: tuple[tuple[Reason, float], ...] = (
    (_r("480", "", EXPECTED), 0.6),
    (_r("410", None, CLIENT), 0.3),
    (_r("487", "10099", SUCCESS), 0.5),
    (_r("480", "10999", EXPECTED), 0.3),
    (_r("487", "10003", SERVER), 1.5),
    (_r("0", "4521", CLIENT), 0.3),
)


@dataclass(frozen=True, slots=True)
class MediaResult:
    """One ACSCallAutomationMediaSummary outcome: ResultCode, ResultSubcode, OperationName."""

    code: str
    subcode: str
    operation: str

    @property
    def dimensions(self) -> tuple[tuple[str, str], ...]:
        return (("operation", self.operation),)


# Media operations of the calls that a server (Call Automation) endpoint ends, per such call.
MEDIA_OPERATIONS_PER_SERVER_CALL = 2
# Their outcomes (relative weights), with the codes and subcodes of the Call Automation pages
# (seed 002: the documented pairs and the generic subcodes): mostly successes, the recognize
# timeouts a voice app always sees, and a few client and server failures. Even counting every
# 4xx and 5xx as a failure, each operation stays under 10% (ACSCallAutomationMediaFailureHigh's
# threshold): the demo shows a healthy voice app.
MEDIA_RESULTS: tuple[tuple[MediaResult, float], ...] = (
    (MediaResult("200", "0", "Play"), 400),
    (MediaResult("200", "0", "StartRecording"), 110),
    (MediaResult("200", "8531", "Recognize"), 120),  # max digits received
    (MediaResult("200", "8533", "Recognize"), 100),  # DTMF option matched
    (MediaResult("200", "8545", "Recognize"), 60),  # speech option matched
    (MediaResult("400", "8510", "Recognize"), 14),  # initial silence timeout
    (MediaResult("400", "8532", "Recognize"), 5),  # inter-digit timeout
    (MediaResult("400", "8500", "Play"), 10),  # invalid media mode
    (MediaResult("400", "8523", "Play"), 10),  # invalid request body
    (MediaResult("404", "8522", "StartRecording"), 5),
    (MediaResult("409", "8519", "StartRecording"), 5),
    (MediaResult("500", "9001", "Play"), 6),  # unknown error from underlying service
    (MediaResult("500", "8518", "Recognize"), 2),  # call exception
    (MediaResult("503", "9001", "Recognize"), 2),
    (MediaResult("504", "9002", "Play"), 3),  # timeout from underlying service
)
MEDIA_TABLE: tuple[tuple[MediaResult, ...], tuple[float, ...]] = (
    tuple(r for r, _ in MEDIA_RESULTS),
    tuple(accumulate(w for _, w in MEDIA_RESULTS)),
)

# Reasons with their cumulative weights, ready for `random.choices` (not an ACS table).
WeightedReasons = tuple[tuple[Reason, ...], tuple[float, ...]]


def reason_table(
    mix: str, server_error_share: float, extra: tuple[tuple[Reason, float], ...] = ()
) -> WeightedReasons:
    """The reasons of one mix with cumulative weights, server errors scaled to their share.

    A share of records (EMPTY_CATEGORY_SHARE) carries an empty ResultCategory: each reason
    appears twice, once with its category and once without.
    """
    normal = [*MIXES[mix], *extra, *UNKNOWN_REASONS, *JUNK_REASONS, *ODD_REASONS]
    normal_total = sum(w for _, w in normal)
    server_total = sum(w for _, w in SERVER_ERROR_REASONS)
    weighted: list[tuple[Reason, float]] = [
        (r, w / normal_total * (1 - server_error_share)) for r, w in normal
    ]
    weighted += [(r, w / server_total * server_error_share) for r, w in SERVER_ERROR_REASONS]
    reasons: list[Reason] = []
    weights: list[float] = []
    for reason, weight in weighted:
        if weight <= 0:
            continue
        if reason.service_category:
            reasons.append(reason)
            weights.append(weight * (1 - EMPTY_CATEGORY_SHARE))
            reasons.append(Reason(reason.code, reason.subcode, ""))
            weights.append(weight * EMPTY_CATEGORY_SHARE)
        else:
            reasons.append(reason)
            weights.append(weight)
    return tuple(reasons), tuple(accumulate(weights))


def server_error_share(
    scenario: Scenario,
    elapsed: float,
    *,
    spike_start: timedelta,
    spike_duration: timedelta,
    spike_share: float,
) -> float:
    """Share of UnexpectedServerError at `elapsed` simulated seconds since the scenario began."""
    if scenario == "server-error-spike":
        start = spike_start.total_seconds()
        if start <= elapsed < start + spike_duration.total_seconds():
            return spike_share
    return BASELINE_SERVER_ERROR_SHARE
