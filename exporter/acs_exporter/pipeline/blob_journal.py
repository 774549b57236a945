"""The layout of the checkpoint blob: a snapshot block, then one block per committed batch.

A block blob's content is its committed blocks, in order. Here the first is a snapshot, the
exact bytes of a checkpoint file (checkpoint.encode: a header line with the body's sha256, then
the body, which holds no newline), and each later one is the record of one batch: a newline,
then the batch's `Change` framed as in the file backend's journal (journal.frame: length,
sha256, JSON). So the blob is self-describing, read whole or from any block boundary:

    <header>\\n<body>  \\n<length> <sha256> <change>  \\n<length> <sha256> <change> ...

and a blob with no deltas is byte for byte what the release before the journal wrote, and read.

Committing a batch stages its block and commits the block list (the committed ids plus the new
one), conditional on the lease and the ETag: Put Block List is atomic, so a batch is in the blob
whole or not at all; a block staged by a leader that died before its commit is never part of the
blob (the storage drops uncommitted blocks at the next commit, or after a week).

The blob's metadata, written with every block list, names the layout and its generation: a
random ID each compaction gives the snapshot. A standby that read the blob up to some size reads
only the bytes after it, when the generation is still the one it read (the blob only grows
within a generation), else the whole blob again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.pipeline import journal
from acs_exporter.pipeline.checkpoint import CheckpointError
from acs_exporter.pipeline.state import Change

LAYOUT_KEY = "acs_exporter_layout"
LAYOUT = "snapshot-deltas-1"
GENERATION_KEY = "acs_exporter_generation"
# Compaction bounds. What a commit uploads is its record plus the block list, which names
# every block since the snapshot (LIST_ENTRY_BYTES each): so the uploads since the snapshot
# grow with the square of the deltas. A snapshot is written once they add up to the snapshot's
# size (at least COMPACT_BYTES): the compaction then costs no more than the commits it
# replaces did, so a poll costs at most about twice the best split between the two (at 50k
# series, ~470 deltas between snapshots and ~22 kB a poll on average, instead of 5.5 MB).
# Also after COMPACT_BLOCKS deltas (a block blob holds at most 50,000 committed blocks). No
# bound in time: a restart reads the whole blob anyway, and every compaction makes each
# standby download the whole snapshot once.
COMPACT_BLOCKS = 1_000
COMPACT_BYTES = 1 << 20
# One block's entry in the Put Block List body, a 16-character ID in base64 in its XML tags
# (measured with the SDK: each block more adds 41 bytes to the request).
LIST_ENTRY_BYTES = 41

WAY_OUT = (
    "The exporter stops rather than start from zero, which would reset counters and re-read "
    "(or skip) calls.\nWay out: restore an earlier version of the blob (blob versioning or "
    "soft delete), or delete it to start over; counters then restart from zero."
)


@dataclass(frozen=True)
class Layout:
    """What this replica knows of the blob's blocks, as of its ETag."""

    generation: str | None  # None: a blob without the layout (one whole Put Blob)
    ids: tuple[str, ...] | None  # the committed block IDs; None: not known (never appended to)
    count: int  # blocks: the snapshot and the deltas
    snapshot_size: int
    size: int  # bytes, all blocks

    @property
    def journal_size(self) -> int:
        return self.size - self.snapshot_size

    @property
    def uploaded(self) -> int:
        """About what the commits of the deltas uploaded: their records, and each commit's
        block list (the snapshot and the deltas up to it)."""
        listed = self.count * (self.count + 1) // 2 - 1
        return self.journal_size + LIST_ENTRY_BYTES * listed

    def metadata(self) -> dict[str, str]:
        assert self.generation is not None
        return {LAYOUT_KEY: LAYOUT, GENERATION_KEY: self.generation}

    def appended(self, block_id: str, size: int) -> Layout:
        ids = None if self.ids is None else (*self.ids, block_id)
        return Layout(self.generation, ids, self.count + 1, self.snapshot_size, self.size + size)

    def due(self, compact_blocks: int, compact_bytes: int) -> bool:
        """True when the next commit must write a snapshot instead of a delta (whose blocks
        must be known, `ids`: the committer checks)."""
        if self.generation is None:
            return True  # a plain blob: start a generation
        too_big = self.uploaded >= max(compact_bytes, self.snapshot_size)
        return too_big or self.count - 1 >= compact_blocks


def snapshot_layout(block_id: str, size: int) -> Layout:
    """A new generation: the snapshot alone."""
    return Layout(uuid.uuid4().hex, (block_id,), 1, size, size)


def new_block_id() -> str:
    """A block ID no writer uses twice (64 random bits; every ID of a blob must have the same
    length). Short, as every commit lists them all."""
    return uuid.uuid4().hex[:16]


def generation_of(metadata: Mapping[str, str] | None) -> str | None:
    metadata = metadata or {}
    return metadata.get(GENERATION_KEY) if metadata.get(LAYOUT_KEY) == LAYOUT else None


def delta_block(change: Change, plan: LabelPlan) -> bytes:
    """The block of one batch: a newline and its framed record (without the frame's newline)."""
    return b"\n" + journal.frame(orjson.dumps(change.to_data(plan)))[:-1]


def split(raw: bytes) -> tuple[bytes, list[bytes]]:
    """A blob's snapshot bytes and the framed records after it (one per delta block)."""
    header, newline, rest = raw.partition(b"\n")
    body, _, records = rest.partition(b"\n")
    snapshot = header + newline + body
    return snapshot, records.split(b"\n") if len(snapshot) < len(raw) else []


def tail_records(tail: bytes) -> list[bytes] | None:
    """The framed records of the bytes after a block boundary; None if it is not one."""
    if not tail:
        return []
    if not tail.startswith(b"\n"):
        return None
    return tail[1:].split(b"\n")


def changes(records: list[bytes], first: int, plan: LabelPlan, where: str) -> list[Change]:
    """The `Change` of each framed record, the first being block number `first`. Raises
    CheckpointError naming the block that does not decode."""
    total = first + len(records) - 1
    decoded = []
    for number, record in enumerate(records, start=first):
        try:
            decoded.append(_change(record, plan))
        except ValueError as exc:
            raise CheckpointError(
                where,
                f"block {number} of {total} (one batch's record) does not decode: {exc}",
                WAY_OUT,
            ) from None
    return decoded


def _change(record: bytes, plan: LabelPlan) -> Change:
    payload = journal.unframe(record)
    if payload is None:
        raise ValueError("length or checksum mismatch")
    try:
        data: Any = orjson.loads(payload)
        return Change.from_data(data, plan)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a batch's record ({type(exc).__name__}: {exc})") from None
