"""The checkpoint in one Azure blob, written only by the holder of the blob's lease.

The blob is a snapshot (the checkpoint file's bytes, checkpoint.encode) followed by one block per
committed batch (blob_journal.py says how it is laid out, compacted and read in part). Every
write carries the lease ID and is conditional on the ETag this replica last read or wrote
(If-Match): a replica that lost the lease, or whose view of the blob is stale, cannot
overwrite or extend its successor's state; the storage refuses, and the batch is not counted.

Leadership is a term: `begin_term` after the lease is acquired and the blob re-read, `end_term`
when it is lost. A poll binds itself to the term it starts in (`bind_term`, thread-local) and its
save is refused if the term changed meanwhile: a batch read from an old cursor is never applied
to the newer state a new term starts from. Saves also stop `margin` seconds before the lease can
lapse, counted from when the last renewal was sent, so a write never races an expiry.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
)
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    BlobLeaseClient,
    BlobProperties,
    BlockState,
    ContainerClient,
    LinearRetry,
)

from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.inputs.redact import mask_url, scrub_text
from acs_exporter.pipeline import blob_journal
from acs_exporter.pipeline.blob_journal import WAY_OUT, Layout
from acs_exporter.pipeline.blob_settings import CONNECTION_STRING_ENV, AzureBlobStateSettings
from acs_exporter.pipeline.checkpoint import CheckpointError, decode, encode
from acs_exporter.pipeline.state import Change, State

log = logging.getLogger("acs_exporter.pipeline.blob_store")

# Storage error codes meaning "someone else holds the blob": a conflict, not an outage.
_CONFLICT_CODES = frozenset(
    {
        "ConditionNotMet",
        "LeaseIdMismatchWithBlobOperation",
        "LeaseNotPresentWithBlobOperation",
        "LeaseIdMissing",
        "LeaseLost",
        "LeaseIdMismatchWithLeaseOperation",
        "LeaseAlreadyPresent",
    }
)


class _Shrunk(Exception):
    """The blob is no longer than what this replica read (compacted meanwhile)."""


class StateStoreError(OSError):
    """The checkpoint could not be committed: storage unreachable, lease lost or conflict."""


class WriteConflict(StateStoreError):
    """The storage refused the write: another replica holds the lease or changed the blob."""


def describe(exc: AzureError) -> str:
    """A short, secret-free account of a storage failure (no URL query, no headers)."""
    if isinstance(exc, HttpResponseError) and exc.status_code:
        code = getattr(exc, "error_code", None) or exc.reason or ""
        return f"HTTP {exc.status_code} {code}".strip()
    # The transport's words may quote a proxy URL (or, unparsed, its credentials): masked
    # here, and scrubbed of the secrets the process holds wherever they are printed.
    first = scrub_text(exc.message.splitlines()[0]) if exc.message else ""
    return type(exc).__name__ + (f": {first}" if first else "")


def is_conflict(exc: AzureError) -> bool:
    if isinstance(exc, ResourceModifiedError):
        return True
    return isinstance(exc, HttpResponseError) and getattr(exc, "error_code", None) in (
        _CONFLICT_CODES
    )


class BlobCheckpoint:
    """A `CheckpointStore` in one blob; the lease and term methods are leadership.py's."""

    def __init__(
        self,
        blob: BlobClient,
        plan: LabelPlan,
        lease_seconds: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        compact_blocks: int = blob_journal.COMPACT_BLOCKS,
        compact_bytes: int = blob_journal.COMPACT_BYTES,
    ) -> None:
        self._blob = blob
        self._plan = plan
        self.lease_seconds = lease_seconds
        self.margin = max(2.0, lease_seconds / 3)
        self._clock = clock
        # One lease ID for the life of the process: re-acquiring our own lease succeeds.
        self._lease = BlobLeaseClient(blob, lease_id=str(uuid.uuid4()))
        self._guard = threading.Lock()
        self._leading = False
        self._term = 0
        self._acquired_at = 0.0
        self._valid_until = 0.0
        self._etag: str | None = None
        self._committed: State | None = None
        self._layout: Layout | None = None  # of the blob as of self._etag
        # The last refresh that read only new blocks: (its state, the state before, changes)
        self._increments: tuple[State, State, tuple[Change, ...]] | None = None
        self._compact_blocks = compact_blocks
        self._compact_bytes = compact_bytes
        self._local = threading.local()
        self.commits = 0
        self.conflicts = 0
        self.where = f"azure blob {blob.container_name}/{blob.blob_name}"
        self._closed = False  # after unlock: never take the lease again

    # --- CheckpointStore ---

    def lock(self) -> None:
        """Create the blob (an empty checkpoint) if it does not exist: a lease needs a blob.
        Raises CheckpointError when the container cannot be reached or written."""
        try:
            self._blob.upload_blob(encode(State(), self._plan), overwrite=False)
        except ResourceExistsError:
            pass  # created by another replica, or leased by one: both fine
        except AzureError as exc:
            raise self._unusable(exc) from None

    def check_writable(self) -> None:
        """For check-config: the container can be reached (nothing is created)."""
        try:
            self._blob.get_blob_properties()
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) == "ContainerNotFound":
                raise self._unusable(exc) from None
        except AzureError as exc:
            raise self._unusable(exc) from None

    def _unusable(self, exc: AzureError) -> CheckpointError:
        return CheckpointError(
            self.where,
            f"the storage refused or could not be reached ({describe(exc)})",
            "Way out: check state.azure_blob.container_url, that the container exists, and "
            "that the exporter's identity has the Storage Blob Data Contributor role on it.",
        )

    def load(self) -> State:
        """The blob's state (empty if there is no blob yet): its snapshot and every delta.
        Remembers its ETag and committed blocks. Raises CheckpointError for a blob that is
        not a checkpoint or storage that cannot be read."""
        try:
            download = self._blob.download_blob()
            raw = download.readall()
            committed, _ = self._blob.get_block_list("committed")
        except ResourceNotFoundError:
            return State()
        except AzureError as exc:
            raise self._unusable(exc) from None
        state, layout, sizes = self._parsed(raw, download.properties.metadata)
        if [block.size for block in committed] == sizes:
            layout = replace(layout, ids=tuple(block.id for block in committed))
        # Else the blob is one Put Blob (no blocks), or it changed between the two reads: its
        # blocks are not known, and the next commit writes a snapshot (conditional on this
        # ETag, so refused if the blob changed).
        with self._guard:
            self._etag, self._committed, self._layout = download.properties.etag, state, layout
        return state

    def _parsed(
        self, raw: bytes, metadata: dict[str, str] | None
    ) -> tuple[State, Layout, list[int]]:
        """The state of a whole blob, its layout (blocks not known) and its blocks' sizes."""
        snapshot, records = blob_journal.split(raw)
        changes = blob_journal.changes(records, 2, self._plan, self.where)
        state = self._decode(snapshot).replayed(changes)
        sizes = [len(snapshot), *(len(record) + 1 for record in records)]
        generation = blob_journal.generation_of(metadata)
        return state, Layout(generation, None, len(sizes), len(snapshot), len(raw)), sizes

    def _decode(self, raw: bytes) -> State:
        try:
            return decode(raw, self._plan, self.where)
        except CheckpointError as exc:
            raise CheckpointError(self.where, exc.problem, WAY_OUT) from None

    def refresh(self) -> State | None:
        """The blob's state if it changed since last read (a standby following the leader),
        else None. While the blob's generation is the one last read, only the bytes after
        what was read are downloaded, and their batches applied. Raises StateStoreError
        (unreachable) or CheckpointError (not a checkpoint)."""
        with self._guard:
            etag, layout, committed = self._etag, self._layout, self._committed
        if layout is not None and layout.generation is not None and committed is not None:
            try:
                got = self._download(layout.size, etag)
            except _Shrunk:  # compacted: smaller than what was read
                pass
            else:
                if got is None:
                    return None
                tail, properties = got
                if blob_journal.generation_of(properties.metadata) == layout.generation:
                    return self._followed_tail(committed, layout, tail, properties.etag)
            # compacted since: read it whole
        got = self._download(0, etag)
        if got is None:
            return None
        raw, properties = got
        state, whole, _ = self._parsed(raw, properties.metadata)
        return self._followed(state, whole, properties.etag)

    def _followed_tail(
        self, committed: State, layout: Layout, tail: bytes, etag: str
    ) -> State | None:
        records = blob_journal.tail_records(tail)
        if records is None:
            raise CheckpointError(
                self.where,
                f"the bytes after block {layout.count} do not start a block (the blob was "
                "changed by something other than an exporter)",
                WAY_OUT,
            )
        changes = blob_journal.changes(records, layout.count + 1, self._plan, self.where)
        grown = Layout(
            layout.generation,
            None,  # a standby appends nothing: the blocks are read again when it leads
            layout.count + len(records),
            layout.snapshot_size,
            layout.size + len(tail),
        )
        if not records:
            with self._guard:
                self._etag, self._layout = etag, grown
            return None
        state = self._followed(committed.replayed(changes), grown, etag)
        with self._guard:
            self._increments = (state, committed, tuple(changes))
        return state

    def increments(self, state: State) -> tuple[State, tuple[Change, ...]] | None:
        """When `refresh` made `state` from the blocks after what it had read: the state it
        extended and their changes (a follower applies just those), else None."""
        with self._guard:
            made = self._increments
        if made is None or made[0] is not state:
            return None
        return made[1], made[2]

    def _followed(self, state: State, layout: Layout, etag: str) -> State:
        with self._guard:
            self._etag, self._committed, self._layout = etag, state, layout
        return state

    def _download(self, offset: int, etag: str | None) -> tuple[bytes, BlobProperties] | None:
        """The blob's bytes from `offset` if it changed since `etag` (None if not, or if
        there is no blob). Raises _Shrunk when it is no longer than `offset`, StateStoreError
        when the storage cannot be read."""
        condition: dict[str, Any] = {}
        if etag is not None:
            condition = {"etag": etag, "match_condition": MatchConditions.IfModified}
        try:
            download = self._blob.download_blob(offset=offset or None, **condition)
            return download.readall(), download.properties
        except (ResourceNotModifiedError, ResourceNotFoundError):
            return None
        except AzureError as exc:
            status = getattr(exc, "status_code", None)
            if status == 304:  # not modified, as the SDK reports it
                return None
            if status == 416:  # the range starts at or after the end
                raise _Shrunk from None
            raise StateStoreError(describe(exc)) from None

    def commit(self, state: State, change: Change) -> None:
        """Persist `state`, the last committed one plus `change`: stage one block holding
        `change`, then commit the block list with it (conditional on the lease and the
        ETag: the batch is in the blob whole or not at all); a snapshot instead when the blob
        is due for compaction. Raises StateStoreError (WriteConflict: another replica holds
        the blob, or it changed since this replica read it)."""
        with self._guard:
            self._check_may_write()
            etag, layout = self._etag, self._layout
        # Blocks not known (a blob written whole, or changed between two reads), or due for
        # compaction: a snapshot.
        if (
            layout is None
            or layout.ids is None
            or layout.due(self._compact_blocks, self._compact_bytes)
        ):
            self.save(state)
            return
        block, block_id = blob_journal.delta_block(change, self._plan), blob_journal.new_block_id()
        blocks = [BlobBlock(i, BlockState.COMMITTED) for i in layout.ids]
        blocks.append(BlobBlock(block_id, BlockState.UNCOMMITTED))
        result = self._written(block_id, block, blocks, layout.metadata(), etag)
        self._committed_as(state, layout.appended(block_id, len(block)), etag, result)

    def compact(self, state: State) -> None:
        self.save(state)

    def save(self, state: State) -> None:
        """Write `state` as the blob's only block, a new generation (compaction), as the
        lease holder, if the blob is still the one last read or written. Raises
        StateStoreError (WriteConflict when another replica holds it)."""
        with self._guard:
            alone = self._layout is not None and self._layout.count == 1
            if (state is self._committed and alone) or (
                not self._leading and state == self._committed
            ):
                return  # already the blob's content (e.g. the final save of a standby)
            self._check_may_write()
            etag = self._etag
        data = encode(state, self._plan)
        block_id = blob_journal.new_block_id()
        layout = blob_journal.snapshot_layout(block_id, len(data))
        blocks = [BlobBlock(block_id, BlockState.UNCOMMITTED)]
        result = self._written(block_id, data, blocks, layout.metadata(), etag)
        self._committed_as(state, layout, etag, result)

    def _written(
        self,
        block_id: str,
        data: bytes,
        blocks: list[BlobBlock],
        metadata: dict[str, str],
        etag: str | None,
    ) -> str:
        """Stage `data` as block `block_id`, then commit `blocks`, with the lease and if the
        blob is still at `etag`. Returns the new ETag. Raises StateStoreError (WriteConflict
        when the storage refuses: lease or ETag)."""
        try:
            self._blob.stage_block(block_id, data, lease=self._lease)
            result = self._blob.commit_block_list(
                blocks,
                metadata=metadata,
                lease=self._lease,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except AzureError as exc:
            if is_conflict(exc):
                with self._guard:
                    self.conflicts += 1
                self.end_term()
                log.warning("checkpoint write refused", extra={"error": describe(exc)})
                raise WriteConflict(
                    f"another replica holds the checkpoint ({describe(exc)})"
                ) from None
            raise StateStoreError(f"cannot write the checkpoint blob ({describe(exc)})") from None
        return str(result["etag"])

    def _committed_as(self, state: State, layout: Layout, before: str | None, etag: str) -> None:
        with self._guard:
            self._etag, self._committed, self._layout = etag, state, layout
            self.commits += 1
        # The write log: each commit names the ETag it replaced, so the chain of commits of all
        # replicas can be checked to be one line (tests/pipeline/blob/test_failover_chaos.py).
        log.debug("checkpoint committed", extra={"etag_before": before, "etag": etag})

    def _check_may_write(self) -> None:
        if not self._leading:
            raise StateStoreError("this replica is a standby: it does not hold the lease")
        bound = getattr(self._local, "term", None)
        if bound is not None and bound != self._term:
            raise StateStoreError("the leadership changed during this poll; it is read again")
        if self._clock() >= self._valid_until:
            raise StateStoreError(
                "the lease could not be renewed in time; this replica stops writing before it "
                "can lapse"
            )

    def unlock(self) -> None:
        """Give the lease up (a clean stop): a standby takes over at once, not at expiry."""
        with self._guard:
            leading, self._leading = self._leading, False
            self._closed = True
        if leading:
            with contextlib.suppress(AzureError):  # else it expires within the lease period
                self._lease.release()

    # --- leadership (leadership.py) ---

    def try_acquire(self) -> bool:
        """Take the lease if free (or ours). Raises StateStoreError if storage is unreachable."""
        if self._closed:
            return False
        sent = self._clock()
        try:
            self._lease.acquire(lease_duration=self.lease_seconds)
        except AzureError as exc:
            if is_conflict(exc) or getattr(exc, "status_code", None) == 409:
                return False
            raise StateStoreError(describe(exc)) from None
        with self._guard:
            self._acquired_at = sent
        return True

    def begin_term(self) -> None:
        """Start writing: call after `try_acquire` and re-reading the blob (`load`)."""
        with self._guard:
            self._term += 1
            self._leading = True
            self._valid_until = self._acquired_at + self.lease_seconds - self.margin

    def renew(self) -> None:
        """Renew the lease. Raises WriteConflict if it was lost, StateStoreError if storage
        is unreachable (the term goes on until the margin before expiry)."""
        sent = self._clock()
        try:
            self._lease.renew()
        except AzureError as exc:
            if is_conflict(exc):
                self.end_term()
                raise WriteConflict(f"the lease was lost ({describe(exc)})") from None
            raise StateStoreError(describe(exc)) from None
        with self._guard:
            self._valid_until = sent + self.lease_seconds - self.margin

    def end_term(self) -> None:
        with self._guard:
            if self._leading:
                self._leading = False
                self._term += 1

    def leading(self) -> bool:
        return self._leading

    def expired(self) -> bool:
        """True once writing must stop (the renewals failed up to the margin)."""
        return self._clock() >= self._valid_until

    def bind_term(self) -> bool:
        """Bind this thread's next save to the current term; False when not leading."""
        with self._guard:
            self._local.term = self._term
            return self._leading


def open_blob(settings: AzureBlobStateSettings) -> BlobClient:
    """The checkpoint blob's client: DefaultAzureCredential (workload identity) in production,
    the connection string of CONNECTION_STRING_ENV (Azurite) when so configured. Retries are
    few and short: the lease loop retries on its own clock, which must stay well inside the
    lease period. Raises CheckpointError when the credential cannot be set up."""
    seconds = settings.lease_duration.total_seconds()
    options: dict[str, Any] = {
        "retry_policy": LinearRetry(backoff=1, random_jitter_range=1, retry_total=1),
        "connection_timeout": min(5.0, seconds / 6),
        "read_timeout": min(10.0, seconds / 4),
    }
    shown = mask_url(settings.container_url)
    if settings.auth_mode == "connection_string":
        connection = os.environ.get(CONNECTION_STRING_ENV)
        if not connection:
            raise CheckpointError(
                shown,
                f"state.azure_blob.auth_mode is connection_string but {CONNECTION_STRING_ENV} "
                "is not set",
                f"Way out: set {CONNECTION_STRING_ENV}, or use auth_mode: default.",
            )
        try:
            return BlobClient.from_connection_string(
                connection, settings.container_name, settings.blob_name, **options
            )
        except ValueError:  # the SDK's words could quote the string, and it holds the key
            raise CheckpointError(
                shown,
                f"{CONNECTION_STRING_ENV} cannot be read as a storage connection string",
                "Way out: copy it whole from the storage account's Access keys "
                "(AccountName=...;AccountKey=...;...).",
            ) from None
    from azure.identity import DefaultAzureCredential

    container = ContainerClient.from_container_url(
        settings.container_url, credential=DefaultAzureCredential(), **options
    )
    return container.get_blob_client(settings.blob_name)
