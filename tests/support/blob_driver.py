"""Lead the checkpoint blob and commit numbered batches, SIGKILLing itself between the
`stage_block` and the `commit_block_list` of one of them (tests/pipeline/blob/test_blob_journal.py).

    blob_driver.py CONTAINER BLOB BATCHES KILL_AT

The connection string comes from AZURE_STORAGE_CONNECTION_STRING. Batches are journal_driver's
(batch i adds i to the series of code i % 40 and sets the cursor to i); "committed i" is printed
once commit(i) returned, "staged i" just before the kill: batch KILL_AT's block is then staged
but never committed.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from azure.storage.blob import BlobClient
from journal_driver import delta

from acs_exporter.definitions.tables import LabelPlan
from acs_exporter.pipeline.blob_store import BlobCheckpoint


def main() -> None:
    container, name = sys.argv[1], sys.argv[2]
    batches, kill_at = int(sys.argv[3]), int(sys.argv[4])
    client = BlobClient.from_connection_string(
        os.environ["AZURE_STORAGE_CONNECTION_STRING"], container, name, retry_total=0
    )
    store = BlobCheckpoint(client, LabelPlan(), 15)
    store.lock()
    assert store.try_acquire()
    state = store.load()
    store.begin_term()
    batch = [0]
    real_commit = client.commit_block_list

    def commit_block_list(*args: Any, **kwargs: Any) -> Any:
        if batch[0] == kill_at:
            print(f"staged {kill_at}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return real_commit(*args, **kwargs)

    client.commit_block_list = commit_block_list  # type: ignore[method-assign]
    cursor = state.cursors.get("driver") or 0
    assert isinstance(cursor, int)
    for i in range(cursor + 1, cursor + 1 + batches):
        batch[0] = i
        state, change = state.applied("driver", delta(i), i, 100_000)
        store.commit(state, change)
        print(f"committed {i}", flush=True)


if __name__ == "__main__":
    main()
