"""Who the simulated participants are: which ACS resource, SDK release and platform.

Each call end gets a *client* drawn from its own random stream (`(seed, second, "clients")`),
after the end reasons are drawn, so the reasons of a second (and every count without the
breakdown labels) are the same as without clients. The values are raw, as ACSCallSummary logs
them (a full `_ResourceId`, a patch-level `SdkVersion`, an `OsVersion` or a browser user
agent), and become labels through the one normalisation the readers use
(definitions/breakdowns.py), so the simulator cannot drift from the files and Log Analytics.

The `bad-release` scenario: while it lasts (`spike_start`, `spike_duration`), a share
(`bad_release_client_error_share`) of the call ends from clients on `BAD_RELEASE` turn into
UnexpectedClientError network drops, as after shipping a broken SDK; other releases are
untouched, so the dashboards' "what changed" panel shows that one release.
"""

from __future__ import annotations

import random
from collections import Counter
from itertools import accumulate
from typing import Final, NamedTuple

from acs_exporter.definitions.breakdowns import os_family, resource_name, sdk_release
from acs_exporter.sources.simulator.scenarios import CLIENT, Profile, Reason

_RESOURCE_PREFIX: Final = (
    "/subscriptions/3f2a9c1e-5b7d-4e8a-9c0f-1a2b3c4d5e6f/resourceGroups/rg-calling"
    "/providers/Microsoft.Communication/CommunicationServices/"
)
# (raw value, weight): three resources, most traffic on the two production ones.
RESOURCES: Final = (
    (_RESOURCE_PREFIX + "ACS-PROD-EU", 55.0),
    (_RESOURCE_PREFIX + "ACS-PROD-US", 35.0),
    (_RESOURCE_PREFIX + "ACS-STAGING", 10.0),
)
# The release the bad-release scenario breaks: the newest one.
BAD_RELEASE: Final = "1.31.0"
SDK_VERSIONS: Final = (
    ("1.30.1", 38.0),
    ("1.30.0", 6.0),
    ("1.29.3", 22.0),
    ("1.28.2", 8.0),
    (BAD_RELEASE, 14.0),
    ("1.32.0-beta.1", 2.0),
    ("Redacted", 10.0),  # cross-tenant participants
)
OS_VERSIONS: Final = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0", 30.0),
    ("Windows 10.0.22631", 8.0),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/17.1", 14.0),
    ("iOS 17.1.2", 14.0),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15", 4.0),
    ("Android 14", 12.0),
    ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 Chrome/131.0", 4.0),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0", 3.0),
    ("Redacted", 8.0),
    ("PlayStation 5", 0.5),
)
# Endpoints that run no calling SDK log no SdkVersion or OsVersion.
_NO_CLIENT: Final = frozenset({"PSTN", "Server", "BOT"})
# What a broken release's calls end with: network drops, UnexpectedClientError.
BAD_RELEASE_REASONS: Final = (Reason("490", "4502", CLIENT), Reason("410", "301005", CLIENT))


def _table(rows: tuple[tuple[str, float], ...]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    return tuple(v for v, _ in rows), tuple(accumulate(w for _, w in rows))


_RESOURCE_TABLE: Final = _table(RESOURCES)


class Client(NamedTuple):
    """One participant's resource, SDK and OS, raw as logged. A NamedTuple: hashed in C, as
    every call end is counted by (reason, client)."""

    resource: str
    sdk_version: str
    os_version: str

    def dimensions(self) -> tuple[tuple[str, str], ...]:
        return (
            ("os", os_family(self.os_version)),
            ("resource", resource_name(self.resource)),
            ("sdk_version", sdk_release(self.sdk_version)),
        )


def _joint(with_sdk: bool) -> tuple[tuple[Client, ...], tuple[float, ...]]:
    """Every client with its weight (independent draws of resource, SDK and OS), built once:
    one draw a call end rather than three, and no object made a call end."""
    sdks = SDK_VERSIONS if with_sdk else (("", 1.0),)
    systems = OS_VERSIONS if with_sdk else (("", 1.0),)
    pairs = [
        (Client(r, s, o), rw * sw * ow)
        for r, rw in RESOURCES
        for s, sw in sdks
        for o, ow in systems
    ]
    return tuple(c for c, _ in pairs), tuple(accumulate(w for _, w in pairs))


_CLIENTS: Final = _joint(with_sdk=True)
_NO_SDK_CLIENTS: Final = _joint(with_sdk=False)


def draw_resources(rng: random.Random, k: int) -> list[str]:
    return rng.choices(_RESOURCE_TABLE[0], cum_weights=_RESOURCE_TABLE[1], k=k)


def draw_clients(rng: random.Random, profile: Profile, k: int) -> list[Client]:
    population, cum_weights = _NO_SDK_CLIENTS if profile.endpoint_type in _NO_CLIENT else _CLIENTS
    return rng.choices(population, cum_weights=cum_weights, k=k)


def break_release(
    rng: random.Random, pairs: Counter[tuple[Reason, Client]], share: float
) -> Counter[tuple[Reason, Client]]:
    """The bad release at work: each call end of a `BAD_RELEASE` client becomes one of
    `BAD_RELEASE_REASONS` with probability `share`."""
    out: Counter[tuple[Reason, Client]] = Counter()
    for (reason, client), count in pairs.items():
        if client.sdk_version != BAD_RELEASE:
            out[reason, client] += count
            continue
        for _ in range(count):
            broken = rng.random() < share
            out[rng.choice(BAD_RELEASE_REASONS) if broken else reason, client] += 1
    return out
