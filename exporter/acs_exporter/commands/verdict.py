"""The `explain` lines about the service's verdict: what the catalog expects the service to log
for a documented pair, and (with --exporter URL) how often a running exporter has seen the
service log something else (acs_call_end_category_disagreements_total)."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from acs_exporter.catalog import Catalog, Domain, Provenance, Resolution
from acs_exporter.catalog.resolver import normalise_category
from acs_exporter.definitions.metrics import CATEGORY_DISAGREEMENTS
from acs_exporter.inputs.redact import mask_url, mask_urls
from acs_exporter.inputs.types import credentials_to_header

DISAGREEMENTS = CATEGORY_DISAGREEMENTS.sample
FETCH_TIMEOUT_SECONDS = 10.0


class ExporterUnreadable(Exception):
    """The --exporter URL did not answer with metrics; the message says why (never a secret)."""


@dataclass(frozen=True)
class Verdict:
    expected: str | None  # the category the catalog documents for the pair, if it does
    logged: str | None  # the valid service category given with --service-category
    seen: dict[str, float] | None = field(default=None)  # service category -> call ends

    def lines(self, key: str, exporter: str | None) -> list[tuple[str, str]]:
        if self.expected is None:
            out = [("service", f"no documented row for {key}: a valid ResultCategory decides")]
        else:
            out = [("service", f"the catalog expects the service to log {self.expected}")]
            if self.logged is not None and self.logged != self.expected:
                out.append(
                    (
                        "disagrees",
                        f"the service logged {self.logged}: counted as {self.expected} with "
                        f"metrics.category_source: catalog (the default), as {self.logged} "
                        f"with service; {DISAGREEMENTS} counts it",
                    )
                )
        if self.seen is not None:
            if self.seen:
                counts = ", ".join(f"{n:g} as {c}" for c, n in sorted(self.seen.items()))
                out.append(("seen", f"{exporter} counted {key} logged otherwise: {counts}"))
            else:
                out.append(("seen", f"{exporter} counted no disagreement for {key}"))
        return out

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"expected_service_category": self.expected}
        if self.seen is not None:
            data["seen_disagreeing"] = dict(sorted(self.seen.items()))
        return data


def verdict(
    catalog: Catalog,
    resolution: Resolution,
    service_category: str | None,
    domain: Domain,
    exporter: str | None = None,
) -> Verdict:
    """Raises ExporterUnreadable when `exporter` is given and cannot be read."""
    documented = catalog.resolve(resolution.code, resolution.subcode, None, domain)
    expected = (
        documented.category.value
        if documented.provenance is Provenance.DOCUMENTED and resolution.subcode is not None
        else None
    )
    logged = normalise_category(service_category)
    seen = None
    if exporter is not None:
        subcode = "" if resolution.subcode is None else str(resolution.subcode)
        seen = seen_disagreeing(fetch_metrics(exporter), str(resolution.code), subcode)
    return Verdict(expected, logged.value if logged else None, seen)


def fetch_metrics(url: str) -> str:
    """The text exposition of an exporter: `url` itself if it ends in /metrics, else url +
    /metrics."""
    shown = mask_url(url)  # the URL may carry basic-auth credentials or a token
    if not url.startswith(("http://", "https://")):
        raise ExporterUnreadable(f"--exporter {shown!r}: expected an http:// or https:// URL")
    # urllib takes no user information (it reads `password@host` as a port, and says so):
    # the credentials go as a Basic header, and the URL urllib sees and errors show has none.
    bare, headers = credentials_to_header(url, {"Accept": "text/plain; version=0.0.4"})
    target = bare if bare.rstrip("/").endswith("/metrics") else bare.rstrip("/") + "/metrics"
    try:
        # The scheme was checked above: only http and https reach urllib.
        request = urllib.request.Request(target, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            body: bytes = response.read()
    except urllib.error.HTTPError as error:
        raise ExporterUnreadable(
            f"--exporter {mask_url(target)}: HTTP {error.code} {error.reason}"
        ) from None
    except ValueError:  # http.client.InvalidURL: a host or port it cannot read
        raise ExporterUnreadable(
            f"--exporter {mask_url(target)}: the host or port cannot be read"
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ExporterUnreadable(
            f"--exporter {mask_url(target)}: cannot connect: {mask_urls(str(reason))}"
        ) from None
    return body.decode("utf-8", errors="replace")


def seen_disagreeing(text: str, code: str, subcode: str) -> dict[str, float]:
    """Disagreements counted for (code, subcode), by service category, summed over sources."""
    seen: dict[str, float] = {}
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as error:
        raise ExporterUnreadable(f"--exporter: not a metrics page: {error}") from None
    for family in families:
        for sample in family.samples:
            if sample.name != DISAGREEMENTS:
                continue
            labels = sample.labels
            if labels.get("code") == code and labels.get("subcode") == subcode:
                category = labels.get("service_category", "")
                seen[category] = seen.get(category, 0.0) + sample.value
    return seen
