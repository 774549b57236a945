"""Wiring: settings -> catalog, sources, checkpoint, exporter, HTTP server, OTLP pusher.

Every start-up failure (catalog, web config, checkpoint, port) becomes a `StartupError` with a
message for a human; `run` prints it and exits non-zero, without a traceback.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

from acs_exporter import __version__
from acs_exporter.aggregate import LabelPlan
from acs_exporter.catalog import Catalog, CatalogError, load_catalog
from acs_exporter.checkpoint import Checkpoint, CheckpointError
from acs_exporter.config import Settings, split_listen_address
from acs_exporter.daemon import Exporter, Pusher, StopSignal, run_until_stopped
from acs_exporter.reasons import known_reasons
from acs_exporter.sources.base import Source
from acs_exporter.sources.files_settings import FilesSettings
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from acs_exporter.sources.simulator_settings import SimulatorSettings
from acs_exporter.web import ExporterHTTPServer
from acs_exporter.webconfig import WebConfig, WebConfigError, load_web_config

log = logging.getLogger("acs_exporter")


class StartupError(Exception):
    pass


def label_plan(settings: Settings) -> LabelPlan:
    return LabelPlan(call_end_labels=tuple(settings.metrics.extra_labels))


def load_catalog_or_fail(settings: Settings) -> Catalog:
    try:
        return load_catalog(settings.catalog.overrides)
    except CatalogError as exc:
        raise StartupError(f"catalog: {exc}") from None


def load_web_config_or_fail(settings: Settings) -> WebConfig | None:
    if settings.web.config_file is None:
        return None
    try:
        return load_web_config(settings.web.config_file)
    except WebConfigError as exc:
        raise StartupError(str(exc)) from None


def build_source(
    settings: SimulatorSettings | FilesSettings | LogAnalyticsSettings,
    catalog: Catalog,
    extra_labels: Sequence[str] = (),
) -> Source:
    # Imported by name when used: a deployment uses one or two kinds, and the Azure SDK is
    # slow to import.
    try:
        if isinstance(settings, SimulatorSettings):
            module = importlib.import_module("acs_exporter.sources.simulator")
            source: Source = module.Simulator(settings, catalog)
        elif isinstance(settings, FilesSettings):
            module = importlib.import_module("acs_exporter.sources.files")
            source = module.FilesSource(settings)
        else:
            # The query must also group by the labels the metrics carry.
            settings = settings.with_labels(list(extra_labels))
            module = importlib.import_module("acs_exporter.sources.loganalytics.source")
            source = module.LogAnalyticsSource(settings)
    except ImportError as exc:
        raise StartupError(
            f"source {settings.name!r} (type {settings.type}) is not available in this build: {exc}"
        ) from None
    except Exception as exc:  # a source that cannot start (credentials, files, ...)
        log.debug("source construction failed", exc_info=True)
        raise StartupError(
            f"source {settings.name!r} (type {settings.type}) cannot start: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    return source


def build_pusher(settings: Settings, exporter: Exporter) -> Pusher | None:
    otlp = settings.otlp
    if not otlp.enabled:
        return None
    try:
        module = importlib.import_module("acs_exporter.otlp")
    except ImportError as exc:
        raise StartupError(f"otlp: the OTLP pusher is not available in this build: {exc}") from None
    try:
        pusher: Pusher = module.OtlpPusher(
            exporter.snapshot,
            endpoint=otlp.endpoint,
            interval_seconds=otlp.interval.total_seconds(),
            headers=dict(otlp.headers),
            timeout_seconds=otlp.timeout.total_seconds(),
        )
    except Exception as exc:  # e.g. a bad OTEL_EXPORTER_OTLP_* file; never echo the headers
        log.debug("OTLP pusher construction failed", exc_info=True)
        raise StartupError(f"otlp: cannot start the pusher: {type(exc).__name__}: {exc}") from None
    return pusher


def serve(settings: Settings, stop_signal: StopSignal | None = None) -> int:
    """Run until SIGTERM/SIGINT. Raises StartupError if anything cannot start."""
    stop_signal = stop_signal or StopSignal()
    stop_signal.install()  # before slow start-up work: a TERM during it still exits cleanly
    catalog = load_catalog_or_fail(settings)
    web_config = load_web_config_or_fail(settings)
    plan = label_plan(settings)
    checkpoint = Checkpoint(settings.state.path, plan) if settings.state.path else None
    source_settings = settings.effective_sources()
    try:
        if checkpoint is not None:
            checkpoint.lock()  # released when the process exits
        exporter = Exporter(
            catalog=catalog,
            source_names=[s.name for s in source_settings],
            known_reasons={s.name: known_reasons(s.type) for s in source_settings},
            plan=plan,
            max_series=settings.metrics.max_series,
            checkpoint=checkpoint,
        )
    except CheckpointError as exc:
        raise StartupError(str(exc)) from None
    # Process metrics (memory, CPU, file descriptors) follow the snapshot on /metrics.
    process_registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=process_registry)
    host, port = split_listen_address(settings.web.listen_address)
    try:
        server = ExporterHTTPServer(
            (host, port),
            exporter.snapshot,
            exporter.readiness,
            web_config,
            process_registry,
            request_timeout=settings.web.request_timeout.total_seconds(),
        )
    except OSError as exc:
        raise StartupError(
            f"cannot listen on {settings.web.listen_address} (web.listen_address): "
            f"{exc.strerror or exc}"
        ) from None
    sources: list[tuple[Source, float]] = []
    try:
        for item in source_settings:
            source = build_source(item, catalog, settings.metrics.extra_labels)
            sources.append((source, item.poll_interval.total_seconds()))
        pusher = build_pusher(settings, exporter)
    except BaseException:
        for source, _ in sources:
            source.close()
        server.server_close()
        raise
    log.info(
        "acs-exporter started",
        extra={
            "version": __version__,
            "listen_address": f"{'https' if server.tls else 'http'}://{host}:{server.port}",
            "sources": [s.name for s in source_settings],
            "catalog_entries": len(catalog.entries),
            "state_path": str(settings.state.path) if settings.state.path else None,
            "basic_auth": server.auth.enabled,
        },
    )
    run_until_stopped(
        exporter=exporter, sources=sources, server=server, pusher=pusher, stop=stop_signal.event
    )
    log.info("stopped", extra={"signal": stop_signal.received})
    return 0
