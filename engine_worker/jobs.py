"""The RQ job the order gateway enqueues, and how the engine worker runs it. It runs
inside the engine worker's process, where :data:`RUNTIME` holds the books and balances
between jobs. The worker's own loop (engine_worker/worker.py) reads the queue and applies
whatever jobs were waiting, inside :func:`exit_on_fail_stop`; :func:`apply_batch` is the
job function the gateway names (and what a plain RQ worker would call)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from engine_worker.runtime import FailStop

if TYPE_CHECKING:
    from engine_worker.runtime import EngineRuntime

RUNTIME: EngineRuntime | None = None
FAIL_STOP_EXIT = 70  # the worker's exit status after a FailStop (EX_SOFTWARE)


def apply_batch(commands: list[Any], reply_to: str, shard: int) -> None:
    if RUNTIME is None or RUNTIME.shard != shard:
        raise RuntimeError(f"engine job for shard {shard} outside its engine worker")
    # RQ catches everything a job raises and carries on with the next job: with a memory
    # the log does not describe. Exit at once instead (logged by apply_batch); the
    # supervisor restarts the worker, which recovers from the log.
    with exit_on_fail_stop():
        RUNTIME.apply_batch(commands, reply_to)


@contextmanager
def exit_on_fail_stop() -> Iterator[None]:
    """Exit at once on a FailStop: the process's memory is ahead of the command log."""
    try:
        yield
    except FailStop:
        os._exit(FAIL_STOP_EXIT)
