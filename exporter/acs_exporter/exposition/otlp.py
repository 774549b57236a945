"""Push the exporter's metrics over OTLP/HTTP, the alternative to being scraped.

Every family of the current Snapshot becomes an OpenTelemetry *observable* instrument whose
callback reads that snapshot, so OTLP carries exactly what /metrics shows:

- counter `X` (Family.name has no suffix) -> observable counter named `X_total`: a monotonic
  cumulative Sum. A Prometheus-compatible backend shows `X_total` whether or not it adds
  suffixes (its translation strips and re-appends `_total`).
- gauge `X` -> observable gauge `X`; info `X` -> observable gauge `X_info` (value 1).
- histograms are not pushed: OpenTelemetry has no asynchronous histogram instrument, and a
  synchronous one cannot be fed cumulative buckets without replaying every observation. The
  only histogram is the self-metric `acs_exporter_poll_duration_seconds`; scrape /metrics for it.

No unit is set, so backends add no unit suffix; label names and values are the attributes as
they are. The resource says `service.name=acs-exporter` (Prometheus turns it into `job`).

The pusher runs its own thread: every `interval_seconds` it takes one snapshot (so all
families of a push agree), registers instruments for families it has not seen, and has the
SDK collect and export. shutdown() pushes a last time, so the final counts arrive.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Meter
from opentelemetry.metrics import Observation as OtelObservation
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from acs_exporter import __version__
from acs_exporter.definitions.metrics import sample_name
from acs_exporter.exposition.families import with_current_lag
from acs_exporter.exposition.snapshot import Family, Snapshot
from acs_exporter.inputs.redact import mask_url
from acs_exporter.inputs.types import credentials_to_header

log = logging.getLogger(__name__)

# The SDK folds attribute sets beyond 2000 per instrument into an overflow point by default;
# our own cardinality guard (metrics.max_series) is the limit that matters.
CARDINALITY_LIMIT = 1_000_000


def otel_name(family: Family) -> str | None:
    """The OpenTelemetry instrument name for a family; None for families not pushed."""
    if family.kind == "counter":
        return sample_name(family.name.removesuffix("_total"), family.kind)
    if family.kind == "info":
        return family.name if family.name.endswith("_info") else family.name + "_info"
    if family.kind == "gauge":
        return family.name
    return None


def _metric_reader(
    endpoint: str, headers: Mapping[str, str], timeout_seconds: float
) -> PeriodicExportingMetricReader:
    """The SDK reader that pushes to `endpoint`: cumulative for every instrument kind (the
    Prometheus counters it mirrors are cumulative), and no SDK thread of its own."""
    temporality: dict[type, AggregationTemporality] = {
        kind: AggregationTemporality.CUMULATIVE
        for kind in (
            Counter,
            UpDownCounter,
            Histogram,
            ObservableCounter,
            ObservableUpDownCounter,
            ObservableGauge,
        )
    }
    exporter = OTLPMetricExporter(
        endpoint=endpoint,
        headers=dict(headers),
        timeout=timeout_seconds,
        preferred_temporality=temporality,
    )
    # math.inf: no SDK thread; our thread decides when to collect (see _push).
    return PeriodicExportingMetricReader(
        exporter,
        export_interval_millis=math.inf,
        export_timeout_millis=timeout_seconds * 1000,
        cardinality_limits={
            ObservableCounter: CARDINALITY_LIMIT,
            ObservableGauge: CARDINALITY_LIMIT,
        },
    )


class OtlpPusher:
    """Pushes the current Snapshot to an OTLP/HTTP endpoint every `interval_seconds`."""

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        *,
        endpoint: str,
        interval_seconds: float,
        headers: Mapping[str, str],
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"otlp interval must be positive, got {interval_seconds}")
        self._snapshot = snapshot
        self._clock = clock
        # Credentials in the URL (https://user:password@host) become a Basic header, so the
        # URL the SDK (and its log lines) and ours carry has none.
        endpoint, headers = credentials_to_header(endpoint, headers)
        self._endpoint = endpoint
        self._shown_endpoint = mask_url(endpoint)
        self._interval = interval_seconds
        self._timeout = timeout_seconds
        self._current = Snapshot()
        self._families: dict[str, Family] = {}  # by family name, from the current snapshot
        self._instruments: set[str] = set()
        self._skipped: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one push at a time (the thread, or shutdown's last)
        self._reader = _metric_reader(endpoint, headers, timeout_seconds)
        self._provider = MeterProvider(
            metric_readers=[self._reader],
            resource=Resource.create(
                {"service.name": "acs-exporter", "service.version": __version__}
            ),
        )
        self._meter: Meter = self._provider.get_meter("acs_exporter", __version__)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="otlp-push", daemon=True)
        self._thread.start()
        # Never log headers: they usually carry credentials.
        log.info("pushing metrics over OTLP to %s every %gs", self._shown_endpoint, self._interval)

    def shutdown(self) -> None:
        """Stop the thread, push the final values once, release the SDK. Safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout + self._interval)
        self._push()
        self._provider.shutdown(timeout_millis=self._timeout * 1000)

    def push_now(self) -> None:
        """One push, outside the schedule (tests, or a final flush)."""
        self._push()

    # -- internals ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._push()

    def _push(self) -> None:
        with self._lock:
            try:
                self._current = self._snapshot()
                families = with_current_lag(self._current.families, self._clock())
                self._families = {family.name: family for family in families}
                for family in self._families.values():
                    self._register(family)
                self._reader.collect(timeout_millis=self._timeout * 1000)
            except Exception:
                # The SDK logs failed exports itself; this is anything else. Keep pushing.
                log.exception("OTLP push to %s failed", self._shown_endpoint)

    def _register(self, family: Family) -> None:
        if family.name in self._instruments or family.name in self._skipped:
            return
        name = otel_name(family)
        if name is None:
            self._skipped.add(family.name)
            log.info(
                "not pushing %s over OTLP: %s families have no OTLP mapping",
                family.name,
                family.kind,
            )
            return
        callback = self._callback(family.name)
        if family.kind == "counter":
            self._meter.create_observable_counter(
                name, callbacks=[callback], unit="", description=family.documentation
            )
        else:
            self._meter.create_observable_gauge(
                name, callbacks=[callback], unit="", description=family.documentation
            )
        self._instruments.add(family.name)

    def _callback(self, family_name: str) -> Callable[[CallbackOptions], Iterable[OtelObservation]]:
        def observe(_: CallbackOptions) -> Iterable[OtelObservation]:
            family = self._families.get(family_name)
            if family is None:
                return []
            out = []
            for values, value in family.samples:
                if isinstance(value, int | float):
                    attributes = dict(zip(family.label_names, values, strict=True))
                    out.append(OtelObservation(value, attributes))
            return out

        return observe
