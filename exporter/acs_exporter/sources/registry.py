"""Every source type, defined once: `sources[].type` -> what the rest of the exporter needs.

An entry gives the type's settings model (config.py builds the `sources:` union from them, the
chart schema is generated from them), its factory (settings + what the wiring provides ->
Source; it imports the source's module only when called, since a deployment uses one or two
types and the Azure SDK is slow to import), the failure reasons it can report (so their
counters start at 0: reasons.py) and its cursor format.

Adding a source type: write its module(s) (settings model with `type: Literal["name"]`, the
Source, its reasons as a StrEnum, its CursorFormat) and add one line to BUILTIN. Tests add a
test-only type with `register()`, before config.py is imported (config.py reads the registry
once, when it builds the settings model, and freezes it).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.sources.azure_metrics.cursor import CURSOR_FORMAT as AZURE_METRICS_CURSOR
from acs_exporter.sources.azure_metrics.reasons import QueryError as AzureMetricsQueryError
from acs_exporter.sources.azure_metrics.reasons import Rejection as AzureMetricsRejection
from acs_exporter.sources.azure_metrics.settings import AzureMetricsSettings
from acs_exporter.sources.cursor import BAD_CURSOR, CursorFormat
from acs_exporter.sources.files.cursor import CURSOR as FILES_CURSOR
from acs_exporter.sources.files.settings import FilesSettings
from acs_exporter.sources.formats.reasons import Rejection as FilesRejection
from acs_exporter.sources.loganalytics.cursor import CURSOR_FORMAT as LOG_ANALYTICS_CURSOR
from acs_exporter.sources.loganalytics.reasons import QueryError as LogAnalyticsQueryError
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from acs_exporter.sources.simulator.cursor import CURSOR_FORMAT as SIMULATOR_CURSOR
from acs_exporter.sources.simulator.reasons import QueryError as SimulatorQueryError
from acs_exporter.sources.simulator.settings import SimulatorSettings

if TYPE_CHECKING:
    from acs_exporter.catalog import Catalog
    from acs_exporter.sources.base import Source


class SourceSettings(Protocol):
    """What every source type's settings model has (a pydantic model with these fields)."""

    @property
    def type(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def poll_interval(self) -> timedelta: ...

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]: ...


@dataclass(frozen=True)
class Wiring:
    """What the daemon hands every factory; a source uses what it needs."""

    catalog: Catalog
    plan: LabelPlan = field(default_factory=LabelPlan)  # which labels each family carries
    stop: threading.Event | None = None  # set when the source's poller stops or is retired


# settings (an instance of the entry's model) + wiring -> a Source that has read nothing yet
Factory = Callable[[Any, Wiring], "Source"]


@dataclass(frozen=True)
class SourceType:
    name: str  # the `type` value
    settings: type[BaseModel]
    factory: Factory
    query_errors: tuple[str, ...] = ()  # reasons of acs_exporter_query_errors_total
    rejections: tuple[str, ...] = ()  # reasons of acs_exporter_records_rejected_total
    cursor: CursorFormat | None = None  # None: the source keeps no cursor
    # The docs page (below docs/) for a failing or lagging source: the landing page links it.
    docs: str = "sources.md"

    def known_query_errors(self) -> tuple[str, ...]:
        """Its query errors, and `bad_cursor`, which every source reports for a damaged
        checkpoint entry."""
        return (*self.query_errors, *(() if BAD_CURSOR in self.query_errors else (BAD_CURSOR,)))


def _simulator(settings: SimulatorSettings, wiring: Wiring) -> Source:
    module = importlib.import_module("acs_exporter.sources.simulator.source")
    source: Source = module.Simulator(settings, wiring.catalog)
    return source


def _files(settings: FilesSettings, wiring: Wiring) -> Source:
    module = importlib.import_module("acs_exporter.sources.files.source")
    source: Source = module.FilesSource(settings, stop=wiring.stop)
    return source


def _log_analytics(settings: LogAnalyticsSettings, wiring: Wiring) -> Source:
    module = importlib.import_module("acs_exporter.sources.loganalytics.source")
    # The query also groups by the labels the plan gives each table's family.
    source: Source = module.LogAnalyticsSource(settings, plan=wiring.plan)
    return source


def _azure_metrics(settings: AzureMetricsSettings, wiring: Wiring) -> Source:
    module = importlib.import_module("acs_exporter.sources.azure_metrics.source")
    source: Source = module.AzureMetricsSource(settings)
    return source


BUILTIN: tuple[SourceType, ...] = (
    SourceType(
        "simulator", SimulatorSettings, _simulator, tuple(SimulatorQueryError), (), SIMULATOR_CURSOR
    ),
    # An unreadable file is retried next poll; bad records are rejections.
    SourceType("files", FilesSettings, _files, (), tuple(FilesRejection), FILES_CURSOR),
    # A bad response fails the whole poll (a query error), so no rejections.
    SourceType(
        "log_analytics",
        LogAnalyticsSettings,
        _log_analytics,
        tuple(LogAnalyticsQueryError),
        (),
        LOG_ANALYTICS_CURSOR,
        docs="loganalytics.md#when-things-go-wrong",
    ),
    # Platform metrics (issue #15): a failed call fails the poll; bad series are rejections.
    SourceType(
        "azure_metrics",
        AzureMetricsSettings,
        _azure_metrics,
        tuple(AzureMetricsQueryError),
        tuple(AzureMetricsRejection),
        AZURE_METRICS_CURSOR,
        docs="sources.md#azure-monitor-platform-metrics",
    ),
)

_types: dict[str, SourceType] = {entry.name: entry for entry in BUILTIN}
_frozen = False


def register(entry: SourceType) -> None:
    """Add a source type (tests): only before config.py has built the settings model."""
    if _frozen:
        raise RuntimeError(
            f"source type {entry.name!r} registered after the configuration model was built; "
            "register it before importing acs_exporter.config"
        )
    if entry.name in _types:
        raise ValueError(f"source type {entry.name!r} is already registered")
    _types[entry.name] = entry


def freeze() -> tuple[SourceType, ...]:
    """The registered types, for config.py to build the `sources:` union from; no type can be
    added afterwards (it would be missing from the model)."""
    global _frozen  # noqa: PLW0603 - the registry is one per process
    _frozen = True
    return tuple(_types.values())


def source_types() -> tuple[SourceType, ...]:
    return tuple(_types.values())


def docs_page(name: str) -> str:
    """The docs page of a source type; the sources page for a type no entry has."""
    entry = _types.get(name)
    return entry.docs if entry is not None else SourceType.docs


def source_type(name: str) -> SourceType:
    """The entry of a `type` value config validation accepted."""
    return _types[name]
