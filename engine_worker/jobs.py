"""The RQ job the order gateway enqueues. It runs inside the engine worker's process,
where :data:`RUNTIME` holds the books and balances between jobs."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine_worker.runtime import EngineRuntime

RUNTIME: EngineRuntime | None = None
# Held while a job applies its batch; the heartbeat takes it to rebuild a lost read model.
LOCK = threading.Lock()


def apply_batch(commands: list[Any], reply_to: str, shard: int) -> None:
    if RUNTIME is None or RUNTIME.shard != shard:
        raise RuntimeError(f"engine job for shard {shard} outside its engine worker")
    with LOCK:
        RUNTIME.apply_batch(commands, reply_to)
