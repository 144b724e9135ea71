"""The engine worker process: a non-forking RQ worker that keeps the books in memory."""

from __future__ import annotations

import gc
import json
import logging
import threading
from collections.abc import Iterable

import redis
from rq import Queue, SimpleWorker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from engine_worker import jobs
from engine_worker.runtime import EngineRuntime
from infra import keys, metrics, shards
from marketdata.units import MarketUnits
from persistence.snapshot import Limits, Snapshot

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0
HEARTBEAT_TTL = 5


class EngineWorker(SimpleWorker):
    """SimpleWorker runs every job in this process, so the engine survives between jobs.
    Engine jobs are enqueued with no timeout and no retry (see the gateway)."""


def _heartbeat(
    connection: redis.Redis, shard: int, stop: threading.Event, runtime: EngineRuntime | None = None
) -> None:
    """Refresh the shard's alive key every second; and, with ``runtime``, rebuild the
    read model when its marker went missing while the engine runs (a Redis restarted
    without persistence): between jobs, under the jobs' lock."""
    while not stop.is_set():
        try:
            connection.set(keys.alive(shard), "1", ex=HEARTBEAT_TTL)
            if runtime is not None and not connection.exists(keys.rm_ready(shard)):
                _rebuild_between_jobs(runtime)
        except redis.RedisError:
            logger.warning("engine shard %d: heartbeat failed (Redis down?)", shard)
        stop.wait(HEARTBEAT_SECONDS)


def _rebuild_between_jobs(runtime: EngineRuntime) -> None:
    try:
        with jobs.LOCK:
            runtime.ensure_read_model()
    except redis.RedisError:
        raise
    except Exception:  # the heartbeat must go on: the engine stays available
        logger.exception("engine shard %d: rebuilding the read model failed", runtime.shard)


def fail_abandoned_jobs(runtime: EngineRuntime, queue: Queue) -> None:
    """Jobs a dead worker of this shard had taken but not finished. A job's commands are
    committed all together or not at all, and RQ must not run them again (engine jobs
    never retry): log what became of each, then move them to the failed registry. Only
    one worker serves a shard, so at start-up every started job is abandoned. Its
    gateway is told the job is over (an empty reply), so commands waiting behind it go."""
    started = StartedJobRegistry(queue=queue)
    failed = FailedJobRegistry(queue=queue)
    connection = queue.connection
    entries = connection.zrange(started.key, 0, -1)
    with connection.pipeline() as pipe:
        for job_id in dict.fromkeys(started.parse_job_id(entry) for entry in entries):
            try:
                job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
            except NoSuchJobError:
                continue
            commands = job.args[0] if job.args and isinstance(job.args[0], list) else []
            ids = [c.get("request_id") for c in commands if isinstance(c, dict)]
            applied = sum(1 for i in ids if i in runtime.recent_requests)
            logger.warning(
                "abandoned job %s (its worker died mid-job): %d of %d commands had been "
                "applied (request ids %s); none will run again",
                job_id,
                applied,
                len(ids),
                ", ".join(str(i) for i in ids[:20]) + (" ..." if len(ids) > 20 else ""),
            )
            job.set_status(JobStatus.FAILED, pipeline=pipe)
            failed.add(job, exc_string="abandoned: its engine worker died mid-job", pipeline=pipe)
            reply_to = job.args[1] if len(job.args) > 1 else None
            if isinstance(reply_to, str):
                # no replies, but the gateway learns its job is over and sends what queued
                # up behind it now, instead of when the job's reply deadline passes
                pipe.publish(reply_to, json.dumps({"shard": runtime.shard, "replies": []}))
        if entries:
            pipe.zrem(started.key, *entries)
        pipe.execute()


class ShardNotSupported(SystemExit):
    """The catalogue puts a market on a shard that does not hold the balances."""


def check_market_shards(markets: Iterable[MarketUnits]) -> None:
    """Refuse to start any shard while a market of the catalogue (the database, all
    shards) is on a shard other than the balance shard (infra/shards.py): that
    configuration spends balances twice, whichever engine starts first."""
    bad = shards.foreign((units.symbol, units.shard) for units in markets)
    for symbol, shard in bad:
        logger.critical("engine start refused: %s", shards.refusal(symbol, shard))
    if bad:
        raise ShardNotSupported(1)


class InconsistentState(SystemExit):
    """The recovered engine is behind what the shard's event stream says it did."""


def check_consistent(runtime: EngineRuntime, connection: redis.Redis) -> None:
    """The event stream and the command log are written in one atomic step and trimmed
    only below what the database holds, so after recovery the engine is at least where
    the event stream's last entry says. If it is not (the command log was lost, or Redis
    holds the streams of another deployment), starting would hand out sequence numbers
    and order ids twice: refuse, and say so."""
    last = connection.xrevrange(keys.events_stream(runtime.shard), count=1)
    if not last:
        return
    streamed = int(last[0][1][b"last_seq"])
    recovered = runtime.engine.next_seq - 1
    if streamed > recovered:
        logger.critical(
            "engine shard %d: the event stream reaches sequence %d but the database and the "
            "command log (%s) only %d; refusing to start. Restore the command log, or, to "
            "start this shard afresh, delete %s and %s and the shard's ProcessorState.",
            runtime.shard,
            streamed,
            keys.commands_stream(runtime.shard),
            recovered,
            keys.events_stream(runtime.shard),
            keys.commands_stream(runtime.shard),
        )
        raise InconsistentState(1)


def run_engine(
    *,
    shard: int,
    redis_url: str,
    fee_account: int,
    markets: list[MarketUnits],
    snapshot: Snapshot,
    burst: bool,
    limits: Limits | None = None,
) -> None:
    connection = redis.Redis.from_url(redis_url)
    queue = Queue(keys.queue(shard), connection=connection, serializer=JSONSerializer)
    runtime = EngineRuntime(shard, fee_account=fee_account, connection=connection)
    runtime.recover(snapshot)
    check_consistent(runtime, connection)
    fail_abandoned_jobs(runtime, queue)
    runtime.ensure_read_model()  # rewritten from memory if Redis lost it
    runtime.sync_markets(markets)
    if limits is not None:
        runtime.sync_limits(limits)
    jobs.RUNTIME = runtime
    # ready: its metrics endpoint opens now (so `up` says whether it takes orders)
    metrics.serve("engine", offset=shard, collectors=[runtime.metrics])
    gc.freeze()  # the recovered books are long-lived: keep them out of collections
    logger.info(
        "engine shard %d ready: %d markets, next sequence %d",
        shard,
        len(runtime.engine.markets),
        runtime.engine.next_seq,
        extra={"seq": runtime.engine.next_seq - 1},
    )
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(connection, shard, stop, runtime), daemon=True)
    beat.start()
    worker = EngineWorker([queue], connection=connection, serializer=JSONSerializer)
    try:
        worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
    finally:
        stop.set()
        connection.delete(keys.alive(shard))
        logger.info(
            "engine shard %d stopped at sequence %d",
            shard,
            runtime.engine.next_seq,
            extra={"seq": runtime.engine.next_seq - 1},
        )
