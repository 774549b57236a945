"""Where the checkpoint lives, behind one small interface (`CheckpointStore`).

`file` (pipeline/checkpoint.py): one file on a volume, one replica, locked. `azure_blob`
(pipeline/blob_store.py, pipeline/leadership.py): one blob shared by replicas; the one holding
its lease polls and writes, conditional on the blob's ETag, the others follow (`RoleReport`).
Both write the same snapshot bytes (checkpoint.encode: a header line with a checksum, then the
body) and the same framed records of batches (journal.frame): the file in a journal file beside
the snapshot, the blob as blocks after it (blob_journal.py).
"""

from __future__ import annotations

from typing import Protocol

from acs_exporter.exposition.snapshot import Family
from acs_exporter.pipeline.state import Change, State


class CheckpointStore(Protocol):
    """What the exporter needs of its checkpoint. `commit` and `compact` raise OSError when
    the state could not be committed (then nothing of the batch is applied or published)."""

    def load(self) -> State: ...

    def commit(self, state: State, change: Change) -> None:
        """Persist `state`, the last committed state plus `change` (the file backend appends
        `change` to its journal; a backend without one writes `state` whole)."""
        ...

    def compact(self, state: State) -> None:
        """Persist `state` whole (at shutdown, and when a journal is due for compaction)."""
        ...

    def unlock(self) -> None: ...


class RoleReport(Protocol):
    """This replica's part in a shared store, for /metrics and /readyz."""

    def standby(self) -> bool:
        """True while another replica leads (this one serves its checkpoint, polls nothing)."""
        ...

    def problems(self) -> tuple[str, ...]:
        """What keeps this replica from being ready (e.g. the store is unreachable)."""
        ...

    def families(self) -> tuple[Family, ...]:
        """The self-metrics of the role and the store."""
        ...
