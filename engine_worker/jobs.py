"""The RQ job the order gateway enqueues. It runs inside the engine worker's process,
where :data:`RUNTIME` holds the books and balances between jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine_worker.runtime import EngineRuntime

RUNTIME: EngineRuntime | None = None


def apply_batch(commands: list[Any], reply_to: str, shard: int) -> None:
    if RUNTIME is None or RUNTIME.shard != shard:
        raise RuntimeError(f"engine job for shard {shard} outside its engine worker")
    RUNTIME.apply_batch(commands, reply_to)
