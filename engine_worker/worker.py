"""The engine worker process: a non-forking RQ worker that keeps the books in memory."""

from __future__ import annotations

import logging
import threading

import redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from engine_worker import jobs, keys
from engine_worker.runtime import EngineRuntime
from marketdata.units import MarketUnits

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0
HEARTBEAT_TTL = 5


class EngineWorker(SimpleWorker):
    """SimpleWorker runs every job in this process, so the engine survives between jobs.
    Engine jobs are enqueued with no timeout and no retry (see the gateway)."""


def _heartbeat(connection: redis.Redis, shard: int, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            connection.set(keys.alive(shard), "1", ex=HEARTBEAT_TTL)
        except redis.RedisError:
            logger.warning("engine shard %d: heartbeat failed (Redis down?)", shard)
        stop.wait(HEARTBEAT_SECONDS)


def run_engine(
    *, shard: int, redis_url: str, fee_account: int, markets: list[MarketUnits], burst: bool
) -> None:
    connection = redis.Redis.from_url(redis_url)
    runtime = EngineRuntime(shard, fee_account=fee_account, connection=connection)
    runtime.recover()
    runtime.sync_markets(markets)
    jobs.RUNTIME = runtime
    logger.info(
        "engine shard %d ready: %d markets, next sequence %d",
        shard,
        len(runtime.engine.markets),
        runtime.engine.next_seq,
    )
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(connection, shard, stop), daemon=True)
    beat.start()
    queue = Queue(keys.queue(shard), connection=connection, serializer=JSONSerializer)
    worker = EngineWorker([queue], connection=connection, serializer=JSONSerializer)
    try:
        worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
    finally:
        stop.set()
        connection.delete(keys.alive(shard))
        logger.info("engine shard %d stopped at sequence %d", shard, runtime.engine.next_seq)
