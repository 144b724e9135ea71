"""The RQ job the order gateway enqueues, and how the engine worker runs it. It runs
inside the engine worker's process, where :data:`RUNTIME` holds the books and balances
between jobs. The worker's own loop (engine_worker/worker.py) reads the queue and calls
:func:`apply_jobs` with whatever jobs were waiting; :func:`apply_batch` is the job
function the gateway names (and what a plain RQ worker would call)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from engine_worker.runtime import FailStop

if TYPE_CHECKING:
    from engine_worker.runtime import EngineRuntime

RUNTIME: EngineRuntime | None = None
FAIL_STOP_EXIT = 70  # the worker's exit status after a FailStop (EX_SOFTWARE)
# Held while a job applies its batch; the heartbeat takes it to rebuild a lost read model.
LOCK = threading.Lock()


def apply_batch(commands: list[Any], reply_to: str, shard: int) -> None:
    if RUNTIME is None or RUNTIME.shard != shard:
        raise RuntimeError(f"engine job for shard {shard} outside its engine worker")
    with LOCK:
        try:
            RUNTIME.apply_batch(commands, reply_to)
        except FailStop:
            # RQ catches everything a job raises and carries on with the next job: with a
            # memory the log does not describe. Exit at once instead (logged by apply_batch);
            # the supervisor restarts the worker, which recovers from the log.
            os._exit(FAIL_STOP_EXIT)


def apply_jobs(
    runtime: EngineRuntime,
    batch: list[tuple[list[Any], str | None]],
    ops: Iterable[tuple[str, ...]] = (),
) -> None:
    """Several jobs' (commands, reply_to) as one batch, with the worker's bookkeeping
    ``ops`` in its commit. A FailStop exits the process, as for :func:`apply_batch`."""
    with LOCK:
        try:
            runtime.apply_jobs(batch, ops=ops)
        except FailStop:
            os._exit(FAIL_STOP_EXIT)
