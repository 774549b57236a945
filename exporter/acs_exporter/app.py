"""Wiring: settings -> catalog, sources, checkpoint, exporter, HTTP server, OTLP pusher.

Every start-up failure (catalog, web config, checkpoint, port) becomes a `StartupError` with a
message for a human; `run` prints it and exits non-zero, without a traceback.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

from acs_exporter import __version__, secrets
from acs_exporter.catalog import Catalog, CatalogError, load_catalog
from acs_exporter.config import ConfigError, Settings, split_listen_address
from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.logsetup import setup_logging
from acs_exporter.pipeline.checkpoint import Checkpoint, CheckpointError
from acs_exporter.pipeline.daemon import Exporter, Pollers, Pusher, StopSignal, run_until_stopped
from acs_exporter.pipeline.reasons import known_reasons
from acs_exporter.pipeline.state_store import CheckpointStore
from acs_exporter.server.http import ExporterHTTPServer
from acs_exporter.server.webconfig import WebConfig, WebConfigError, load_web_config
from acs_exporter.sources.base import Source
from acs_exporter.sources.registry import SourceSettings as AnySourceSettings
from acs_exporter.sources.registry import Wiring, source_type

if TYPE_CHECKING:
    from acs_exporter.pipeline.shared_state import SharedState

log = logging.getLogger("acs_exporter")


class StartupError(Exception):
    pass


def label_plan(settings: Settings) -> LabelPlan:
    return LabelPlan(extra_labels=tuple(settings.metrics.extra_labels))


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
    settings: AnySourceSettings,
    catalog: Catalog,
    plan: LabelPlan = LabelPlan(),  # noqa: B008 (immutable)
    stop: threading.Event | None = None,
) -> Source:
    """The source of a `sources:` entry, by its registry entry's factory (which imports the
    source's module only now)."""
    entry = source_type(settings.type)
    try:
        return entry.factory(settings, Wiring(catalog, plan, stop))
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


def build_pusher(settings: Settings, exporter: Exporter) -> Pusher | None:
    otlp = settings.otlp
    if not otlp.enabled:
        return None
    try:
        module = importlib.import_module("acs_exporter.exposition.otlp")
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


Polled = tuple[Source, float, threading.Event]  # a source, its poll interval, its stop event
# Wraps a source so that it polls only while this replica leads (shared_state.py).
Gate = Callable[[Source, threading.Event], Source]


def serve(
    settings: Settings,
    stop_signal: StopSignal | None = None,
    reload_settings: Callable[[], Settings] | None = None,
) -> int:
    """Run until SIGTERM/SIGINT; on SIGHUP apply `reload_settings()` (see Reloader). Raises
    StartupError if anything cannot start."""
    stop_signal = stop_signal or StopSignal()
    stop_signal.install()  # before slow start-up work: a TERM during it still exits cleanly
    catalog = load_catalog_or_fail(settings)
    web_config = load_web_config_or_fail(settings)
    exporter, shared = build_exporter_and_role(settings, catalog)
    gate = shared.gate if shared is not None else None
    server = build_server(settings, exporter, web_config)
    try:
        sources = build_sources(settings.effective_sources(), catalog, settings, gate)
    except BaseException:
        server.server_close()
        raise
    try:
        pusher = build_pusher(settings, exporter)
    except BaseException:
        close_sources(sources)
        server.server_close()
        raise
    log_started(settings, server, catalog)
    reloader = (
        Reloader(reload_settings, settings, exporter, catalog, gate)
        if reload_settings is not None
        else None
    )
    if shared is not None:
        shared.leadership.start()
    try:
        abandoned = run_until_stopped(
            exporter=exporter,
            sources=sources,
            server=server,
            pusher=pusher,
            stop=stop_signal.event,
            hurry=stop_signal.hurry,
            reload_requested=stop_signal.reload,
            reload=reloader,
        )
    finally:
        if shared is not None:
            shared.leadership.stop()
    log.info("stopped", extra={"signal": stop_signal.received, "abandoned_polls": abandoned})
    return 0


def build_exporter_and_role(
    settings: Settings, catalog: Catalog
) -> tuple[Exporter, SharedState | None]:
    """The exporter and, with state.backend azure_blob, its shared-state leadership."""
    if settings.state.backend != "azure_blob":
        return build_exporter(settings, catalog), None
    try:
        from acs_exporter.pipeline.shared_state import open_shared_state
    except ImportError as exc:
        raise StartupError(
            f"state.backend azure_blob is not available in this build: {exc}"
        ) from None
    try:
        shared = open_shared_state(settings, label_plan(settings))
    except CheckpointError as exc:
        raise StartupError(str(exc)) from None
    exporter = build_exporter(settings, catalog, shared)
    shared.leadership.attach(exporter)
    return exporter, shared


def build_exporter(
    settings: Settings, catalog: Catalog, shared: SharedState | None = None
) -> Exporter:
    """The exporter, its counts restored from the checkpoint (locked for this process)."""
    plan = label_plan(settings)
    checkpoint: CheckpointStore | None = (
        Checkpoint(settings.state.path, plan) if settings.state.path else None
    )
    if shared is not None:
        checkpoint = shared.store
    source_settings = settings.effective_sources()
    try:
        if isinstance(checkpoint, Checkpoint):
            checkpoint.lock()  # released when the process exits
        return Exporter(
            catalog=catalog,
            source_names=[s.name for s in source_settings],
            known_reasons={s.name: known_reasons(s.type) for s in source_settings},
            plan=plan,
            max_series=settings.metrics.max_series,
            checkpoint=checkpoint,
            category_source=settings.metrics.category_source,
            source_types={s.name: s.type for s in source_settings},
            role=shared.leadership if shared is not None else None,
        )
    except CheckpointError as exc:
        raise StartupError(str(exc)) from None


def build_server(
    settings: Settings, exporter: Exporter, web_config: WebConfig | None
) -> ExporterHTTPServer:
    # Process metrics (memory, CPU, file descriptors) follow the snapshot on /metrics.
    process_registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=process_registry)
    host, port = split_listen_address(settings.web.listen_address)
    try:
        return ExporterHTTPServer(
            (host, port),
            exporter.snapshot,
            exporter.readiness,
            web_config,
            process_registry,
            request_timeout=settings.web.request_timeout.total_seconds(),
            telemetry_path=settings.web.telemetry_path,
            statuses=exporter.source_statuses,
        )
    except OSError as exc:
        raise StartupError(
            f"cannot listen on {settings.web.listen_address} (web.listen_address): "
            f"{exc.strerror or exc}"
        ) from None


def build_sources(
    wanted: Sequence[AnySourceSettings],
    catalog: Catalog,
    startup: Settings,
    gate: Gate | None = None,
) -> list[Polled]:
    """The sources of `wanted`, each with its own stop event (set by its poller at shutdown or
    when a reload retires it); those already built are closed if one cannot start. The extra
    labels are `startup`'s: they are restart-only (the running plan)."""
    built: list[Polled] = []
    try:
        for item in wanted:
            stop = threading.Event()
            source = build_source(item, catalog, label_plan(startup), stop)
            if gate is not None:  # polled only while this replica leads (state.backend)
                source = gate(source, stop)
            built.append((source, item.poll_interval.total_seconds(), stop))
    except BaseException:
        close_sources(built)
        raise
    return built


def close_sources(sources: Sequence[Polled]) -> None:
    for source, _, _ in sources:
        source.close()


def log_started(settings: Settings, server: ExporterHTTPServer, catalog: Catalog) -> None:
    host, _ = split_listen_address(settings.web.listen_address)
    log.info(
        "acs-exporter started",
        extra={
            "version": __version__,
            "listen_address": f"{'https' if server.tls else 'http'}://{host}:{server.port}",
            "telemetry_path": server.telemetry_path,
            "sources": [s.name for s in settings.effective_sources()],
            "catalog_entries": len(catalog.entries),
            "state_path": str(settings.state.path) if settings.state.path else None,
            "basic_auth": server.auth.enabled,
        },
    )


# Keys a reload cannot apply; a change to one is logged and waits for a restart. The listener
# and its TLS/auth are bound at start-up, the checkpoint path is locked, the label plan is the
# checkpoint's layout, and the OTLP pusher is owned by the shutdown sequence.
RESTART_ONLY: tuple[tuple[str, str], ...] = (
    ("web", "listen_address"),
    ("web", "config_file"),
    ("web", "telemetry_path"),
    ("state", "path"),
    ("state", "backend"),
    ("state", "azure_blob"),
    ("metrics", "extra_labels"),
    ("otlp", ""),
)


class Reloader:
    """SIGHUP, as Prometheus does it: re-read the config file (and the environment and flags,
    with the same precedence), validate it whole, and either apply it or keep running the old
    one with a logged error. Counts, cursors and the checkpoint are kept either way.

    Applied: sources (added, removed, changed: a changed or removed source's poll in flight is
    discarded and read again by its successor, so nothing is lost or counted twice), catalog
    overrides (re-read even when the list is unchanged), metrics.max_series,
    metrics.category_source (for call ends counted from then on), log.level and log.format.
    The RESTART_ONLY keys keep their running values."""

    def __init__(
        self,
        load: Callable[[], Settings],
        settings: Settings,
        exporter: Exporter,
        catalog: Catalog,
        gate: Gate | None = None,
    ) -> None:
        self._gate = gate
        self._load = load
        self._startup = settings
        self._settings = settings
        self._exporter = exporter
        self._catalog = catalog

    def __call__(self, pollers: Pollers) -> None:
        log.info("SIGHUP: reloading the configuration")
        try:
            new = self._load()
            secrets.remember(new)  # even a restart-only value: a library may quote it
            catalog = load_catalog_or_fail(new)
            running = {s.name: s for s in self._settings.effective_sources()}
            wanted = {s.name: s for s in new.effective_sources()}
            keep = {
                name
                for name, item in wanted.items()
                if running.get(name) == item and pollers.get(name) is not None
            }
            built = build_sources(
                [s for n, s in wanted.items() if n not in keep], catalog, self._startup, self._gate
            )
        except (ConfigError, StartupError) as exc:
            message = exc.render() if isinstance(exc, ConfigError) else str(exc)
            log.error(
                "configuration reload failed; still running the previous configuration",
                extra={"error": message},
            )
            self._exporter.record_reload(False)
            return
        for name in pollers.names():
            if name not in keep:
                pollers.retire(name)
        self._exporter.reconfigure(
            catalog=catalog,
            source_names=list(wanted),
            known_reasons={s.name: known_reasons(s.type) for s in wanted.values()},
            max_series=new.metrics.max_series,
            category_source=new.metrics.category_source,
            source_types={s.name: s.type for s in wanted.values()},
        )
        for source, interval, stop in built:
            pollers.add(source, interval, stop)
        if new.log != self._settings.log:
            setup_logging(new.log.format, new.log.level)
        pending = self._restart_only_changes(new)
        if pending:
            log.warning(
                "these settings changed but need a restart to take effect; their running "
                "values are kept",
                extra={"keys": pending},
            )
        self._settings, self._catalog = new, catalog
        self._exporter.record_reload(True)
        log.info(
            "configuration reloaded",
            extra={
                "sources": list(wanted),
                "restarted_sources": sorted(s.name for s, _, _ in built if s.name in running),
                "added_sources": sorted(set(wanted) - set(running)),
                "removed_sources": sorted(set(running) - set(wanted)),
                "catalog_entries": len(catalog.entries),
            },
        )

    def _restart_only_changes(self, new: Settings) -> list[str]:
        changed = []
        for section, key in RESTART_ONLY:
            before, after = getattr(self._startup, section), getattr(new, section)
            if key:
                before, after = getattr(before, key), getattr(after, key)
            if before != after:
                changed.append(f"{section}.{key}" if key else section)
        return changed
