"""The contract between sources and the pipeline.

A source turns whatever it reads (a simulator, exported files, a Log Analytics workspace) into
*observations*: raw end reasons with a count `n`. Raw mode yields n=1 per record; a source that
aggregates in its query yields one observation per distinct series. Either way the pipeline
resolves and aggregates them the same way, so the source stays ignorant of the catalog.

Codes stay raw (as received: "487", " 0 ", 487, None, "") so that parsing and the accounting of
malformed values happen in exactly one place, the catalog's code parser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from acs_exporter.definitions.tables import LogTable

# A JSON-serialisable, opaque position in a source. The pipeline persists it together with the
# cumulative counts, atomically, and hands it back on the next fetch (also after a restart).
Cursor = str | int | float | bool | None | list["Cursor"] | dict[str, "Cursor"]


class Observation(NamedTuple):
    """One end reason seen `n` times. A NamedTuple: cheap to build on the hot path."""

    code: object
    subcode: object
    service_category: str | None = None
    # Extra label values, as sorted (name, value) pairs from a fixed allow-list
    # (call_type, endpoint_type, operation, ...). Hashable so observations can be counted.
    dimensions: tuple[tuple[str, str], ...] = ()
    n: int = 1


@dataclass(frozen=True)
class DiscoveryReport:
    """What a source that discovers what it reads (azure_metrics `subscriptions`) says of one
    fetch's discovery: the resources it knows now, and the discoveries that failed in the fetch
    by reason (every reason it knows, 0 when none failed, so their series start at 0)."""

    resources: int
    errors: Mapping[str, int]


@dataclass(frozen=True)
class Batch:
    """What one fetch produced. Counts are applied, and the cursor persisted, all or nothing."""

    # Per table (acs_exporter.definitions.tables): ACSCallSummary has one observation per
    # participant call end, ACSCallAutomationMediaSummary one per media operation outcome.
    observations: Mapping[LogTable, Sequence[Observation]] = field(default_factory=dict)
    # Records that could not be read at all, by reason (e.g. "invalid_json"). Each reason's
    # details are logged by the source with file:line or query and field.
    rejected: Mapping[str, int] = field(default_factory=dict)
    # The position after this batch; None means "unchanged".
    cursor: Cursor = None
    # How far the source has read, in event/ingestion time, for the cursor-lag self-metric.
    watermark: datetime | None = None
    # False when the source knows there is more to read right away (catch-up after downtime).
    caught_up: bool = True
    # What the source could not read this poll although it is there, and tries again at its
    # next regular poll (not at once, as for caught_up=False), each as "what: why"
    # ("/data/b.csv: Permission denied"). Until a poll has none, the source has not read
    # everything it held at start-up: the exporter is not ready.
    unreadable: tuple[str, ...] = ()
    # A discovering source's report (None: the source discovers nothing).
    discovery: DiscoveryReport | None = None

    def of(self, table: LogTable) -> Sequence[Observation]:
        """The observations of `table` ([] when the batch has none)."""
        return self.observations.get(table, [])

    def is_empty(self) -> bool:
        return not any(self.observations.values())


class SourceError(Exception):
    """A fetch failed; nothing of it may be counted. `reason` is a short label value.

    `cursor`, when not None, is a position to keep although the fetch failed: one that only
    fixes starting points the source planned for what it had never read (so that a retry, even
    after a restart, starts there rather than at a later "now"). It carries no counts.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        retry_after: float | None = None,
        cursor: Cursor = None,
    ) -> None:
        super().__init__(message)
        # Plain str, also when given a StrEnum member: it becomes a label value and a JSON key.
        self.reason = str(reason)
        self.retry_after = retry_after
        self.cursor = cursor
        # A discovering source's report of the failed fetch: its failed discoveries still count.
        self.discovery: DiscoveryReport | None = None


class Source(Protocol):
    """Anything the daemon can poll."""

    @property
    def name(self) -> str:
        """Stable identifier: used as the `source` label and as the key of its saved cursor."""
        ...

    def fetch(self, cursor: Cursor) -> Batch:
        """Read what is new after `cursor` (None on the first run). Raise SourceError on failure."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...
