"""A process killed in the middle of the journal's write of its chunk in flight, made deterministic:
``python short_journal_write.py URI RUN_ID N WRITTEN``.

It queues metric ``x`` at steps 0..N-1 (value = step) in a queue file, takes the first chunk as the worker
does, records it in flight, journals only the chunk's first WRITTEN writes (the kernel may leave a write
cut short by SIGKILL: the journal then holds a prefix of the chunk's records), and kills itself with
SIGKILL. The journal directory is ASYNCTRACK_JOURNAL_DIR.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from asynctrack._batching._batch import coalesce
from asynctrack._batching._ops import decode_chunk
from asynctrack._redact import redact
from asynctrack.journal import Journal, target_directory
from asynctrack.pipeline._queue import OpQueue
from asynctrack.pipeline._ring import QueueFile
from asynctrack.store import BatchLimits

CHUNK = 4096


async def main(uri: str, run_id: str, n: int, written: int) -> None:
    directory = target_directory(uri)
    os.makedirs(directory, exist_ok=True)
    journal = Journal(directory, uri, "batch", 0.0)
    ring = QueueFile(directory, 1 << 20, journal.path, redact(uri))
    queue = OpQueue(n + 1, "block", ring)
    for i in range(n):
        queue.put_metric(run_id, "x", float(i), 1_700_000_000_000 + i, i)
    start = ring.taken
    frames = queue.take(CHUNK)
    batches = coalesce(decode_chunk(frames), queue.names, BatchLimits())
    assert len(batches) > written, len(batches)
    ring.begin(start, ring.taken, journal.last_seq)
    await journal.append(batches[:written], queue.names)
    print("journaled", len(batches), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
