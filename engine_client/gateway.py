"""The order gateway: how a web (or support) process talks to the engine.

One gateway per process. It batches commands into RQ jobs adaptively
(docs/architecture.md, "Why it is shaped this way"): the first command of a quiet moment
is enqueued at once; commands that arrive while a job of the same shard is in flight wait
for its reply and then leave together as the next job. All replies come back on one
Pub/Sub channel per gateway and are handed to the waiting caller by request_id.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import redis
from django.conf import settings
from prometheus_client import Counter, Histogram
from redis.commands.core import Script
from rq import Queue
from rq.job import Job

from apikit.errors import EngineTimeout, EngineUnavailable
from engine_client.commands import JOB_FUNCTION, job_data
from infra import keys
from infra.metrics import LATENCY_BUCKETS, SIZE_BUCKETS

logger = logging.getLogger(__name__)

ALIVE_CACHE_SECONDS = 1.0
FAILURE_TTL = 7 * 24 * 3600  # how long a failed job stays in RQ's FailedJobRegistry

# Enqueue one RQ job as Queue.enqueue_call(JOB_FUNCTION, args=(commands, reply_to, shard),
# timeout=-1, result_ttl=0, failure_ttl=FAILURE_TTL) does, in one atomic call: the job
# hash with the fields RQ 2 writes (Job.to_dict, status queued), the id pushed on the
# queue, the queue in RQ's set of queues (rq info lists it). KEYS: the job hash, the
# queue, RQ's set of queues; ARGV: the job id, created_at (= enqueued_at), data,
# description, origin (the queue's name). The constant fields are in the script, so a
# job costs the web process five arguments, not RQ's ~100 us of Job and pipeline
# building. engine_worker/tests/test_gateway_jobs.py holds it to what RQ writes.
ENQUEUE_JOB = f"""
redis.call('HSET', KEYS[1],
  'status', 'queued',
  'created_at', ARGV[2],
  'data', ARGV[3],
  'success_callback_name', '',
  'failure_callback_name', '',
  'stopped_callback_name', '',
  'started_at', '',
  'ended_at', '',
  'last_heartbeat', '',
  'worker_name', '',
  'group_id', '',
  'origin', ARGV[5],
  'description', ARGV[4],
  'enqueued_at', ARGV[2],
  'timeout', '-1',
  'result_ttl', '0',
  'failure_ttl', '{FAILURE_TTL}')
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], KEYS[2])
"""

# This process's gateway, in its metrics (docs/operations.md, "Metrics"): the web
# service's /metrics shows them.
COMMANDS = Counter("exchange_gateway_commands", "Commands sent to the engine, by shard.", ["shard"])
REPLIES = Counter("exchange_gateway_replies", "Engine replies received, by shard.", ["shard"])
TIMEOUTS = Counter(
    "exchange_gateway_timeouts",
    "Commands whose reply did not come within ENGINE_REPLY_TIMEOUT (a 504), by shard.",
    ["shard"],
)
UNAVAILABLE = Counter(
    "exchange_gateway_unavailable",
    "Commands refused because the shard's engine was not running or Redis was unreachable "
    "(a 503), by shard.",
    ["shard"],
)
BATCH_SIZE = Histogram(
    "exchange_gateway_batch_commands",
    "Commands per job the gateway enqueued, by shard.",
    ["shard"],
    buckets=SIZE_BUCKETS,
)
REPLY_SECONDS = Histogram(
    "exchange_gateway_reply_seconds",
    "From sending a command to its reply, by shard.",
    ["shard"],
    buckets=LATENCY_BUCKETS,
)


class _ShardMetrics:
    """One shard's labelled children, bound once."""

    __slots__ = ("batch_size", "commands", "replies", "reply_seconds", "timeouts", "unavailable")

    def __init__(self, shard: int) -> None:
        label = str(shard)
        self.commands = COMMANDS.labels(label)
        self.replies = REPLIES.labels(label)
        self.timeouts = TIMEOUTS.labels(label)
        self.unavailable = UNAVAILABLE.labels(label)
        self.batch_size = BATCH_SIZE.labels(label)
        self.reply_seconds = REPLY_SECONDS.labels(label)


_shard_metrics: dict[int, _ShardMetrics] = {}


def shard_metrics(shard: int) -> _ShardMetrics:
    metrics = _shard_metrics.get(shard)
    if metrics is None:
        metrics = _shard_metrics.setdefault(shard, _ShardMetrics(shard))
    return metrics


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class OrderGateway:
    def __init__(self, redis_url: str, *, reply_timeout: float) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.channel = keys.reply_channel(self.id)
        self.reply_timeout = reply_timeout
        self._redis = redis.Redis.from_url(redis_url)
        self._enqueue_job = self._redis.register_script(ENQUEUE_JOB)
        self._jobs = itertools.count(1)
        self._lock = threading.Lock()
        self._waiting: dict[str, Future[dict[str, Any]]] = {}
        self._pending: dict[int, list[dict[str, Any]]] = {}
        self._in_flight: dict[int, float] = {}  # shard -> deadline of its job's reply
        self._alive: dict[int, float] = {}  # shard -> until when we believe it is alive
        self._counter = itertools.count(1)
        self._subscribed = threading.Event()
        self._closed = threading.Event()
        self._listener = threading.Thread(
            target=self._listen, name=f"gateway-{self.id}", daemon=True
        )
        self._listener.start()
        if not self._subscribed.wait(5):
            raise EngineUnavailable("Cannot subscribe to the engine's replies (Redis down?).")

    def new_request_id(self) -> str:
        return f"{self.id}-{next(self._counter)}"

    # -- calling the engine ------------------------------------------------------------

    def call(self, shard: int, command: dict[str, Any], timeout: float | None = None) -> dict:
        """Send one command and wait for its reply (EngineTimeout after ``timeout``)."""
        started = time.perf_counter()
        future = self.submit(shard, command)
        metrics = shard_metrics(shard)
        try:
            reply = future.result(timeout or self.reply_timeout)
        except FutureTimeout:
            metrics.timeouts.inc()
            with self._lock:
                self._waiting.pop(command["request_id"], None)
                pending = self._pending.get(shard, [])
                if command in pending:  # never sent: drop it so it cannot apply later
                    pending.remove(command)
            logger.warning(
                "request %s: no engine reply in time",
                command["request_id"],
                extra=log_fields(command),
            )
            raise EngineTimeout(
                "The engine did not answer in time; the command may still be applied. "
                "Look the order up by its client_order_id.",
                details={"request_id": command["request_id"]},
            ) from None
        metrics.reply_seconds.observe(time.perf_counter() - started)
        return reply

    def submit(self, shard: int, command: dict[str, Any]) -> Future[dict[str, Any]]:
        metrics = shard_metrics(shard)
        try:
            self.check_alive(shard)
        except EngineUnavailable:
            metrics.unavailable.inc()
            raise
        metrics.commands.inc()
        future: Future[dict[str, Any]] = Future()
        now = time.monotonic()
        with self._lock:
            self._waiting[command["request_id"]] = future
            self._pending.setdefault(shard, []).append(command)
            if self._in_flight.get(shard, 0.0) > now:
                return future  # joins the next job, sent when this one's reply arrives
            batch = self._pending.pop(shard)
            self._in_flight[shard] = now + self.reply_timeout
        self._enqueue(shard, batch)
        return future

    def check_alive(self, shard: int) -> None:
        if self._alive.get(shard, 0.0) > time.monotonic():
            return
        try:
            alive = self._redis.exists(keys.alive(shard))
        except redis.RedisError as exc:
            raise EngineUnavailable("Redis is unreachable.") from exc
        if not alive:
            raise EngineUnavailable(f"Engine shard {shard} is not running.")
        self._alive[shard] = time.monotonic() + ALIVE_CACHE_SECONDS

    def _enqueue(self, shard: int, batch: list[dict[str, Any]]) -> None:
        metrics = shard_metrics(shard)
        metrics.batch_size.observe(len(batch))
        try:
            enqueue_job(
                self._enqueue_job, f"{self.id}-j{next(self._jobs)}", batch, self.channel, shard
            )
        except redis.RedisError:
            logger.exception("could not enqueue a batch of %d on shard %d", len(batch), shard)
            with self._lock:
                self._in_flight.pop(shard, None)
                failed = [self._waiting.pop(c["request_id"], None) for c in batch]
            metrics.unavailable.inc(len(batch))
            for future in failed:
                if future is not None:
                    future.set_exception(EngineUnavailable("Redis is unreachable."))

    # -- replies -----------------------------------------------------------------------

    def _listen(self) -> None:
        while not self._closed.is_set():
            try:
                pubsub = self._redis.pubsub(ignore_subscribe_messages=False)
                pubsub.subscribe(self.channel)
                while not self._closed.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._subscribed.set()
                    elif message["type"] == "message":
                        self._dispatch(json.loads(message["data"]))
                pubsub.close()
            except redis.RedisError:
                logger.warning("gateway %s lost its reply subscription; retrying", self.id)
                self._closed.wait(0.5)

    def close(self) -> None:
        """Stop listening for replies (a process has one gateway for its lifetime; tests
        that make their own close them)."""
        self._closed.set()
        self._listener.join(5)

    def _dispatch(self, message: dict[str, Any]) -> None:
        shard = message["shard"]
        shard_metrics(shard).replies.inc(len(message["replies"]))
        with self._lock:
            futures = [(self._waiting.pop(r["request_id"], None), r) for r in message["replies"]]
            self._in_flight.pop(shard, None)
            batch = self._pending.pop(shard, None)
            if batch:
                self._in_flight[shard] = time.monotonic() + self.reply_timeout
        if batch:
            self._enqueue(shard, batch)
        for future, reply in futures:
            if future is not None:
                future.set_result(reply)


_second: tuple[int, str] = (-1, "")  # the last second stamped, as RQ writes its first part


def rq_timestamp() -> str:
    """Now as RQ writes a job's dates (rq.utils.utcformat(now()): 2026-12-01T18:48:10.259380Z),
    strftime once a second rather than on every job."""
    global _second
    second, micros = divmod(time.time_ns() // 1000, 1_000_000)
    cached = _second
    if cached[0] != second:
        cached = _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{micros:06d}Z"


def enqueue_job(
    script: Script,
    job_id: str,
    commands: list[dict[str, Any]],
    reply_to: str | None,
    shard: int,
    *,
    client: redis.client.Pipeline | None = None,
) -> None:
    """Enqueue the RQ job apply_batch(commands, reply_to, shard) with id ``job_id`` on the
    shard's queue (``script``: ENQUEUE_JOB registered on the connection). Its data is
    JSONSerializer's [function, instance, args, kwargs], stored uncompressed: RQ's
    Job.restore and the worker's decode_job read both, and for a job that lives a few
    milliseconds zlib costs more than the bytes it saves. The description names the
    call without RQ's repr of every command. ``client``: a pipeline to queue it on (the
    benches' many jobs in one round trip); else it runs at once."""
    origin = keys.queue(shard)
    created = rq_timestamp()
    data = job_data(commands, reply_to, shard)
    description = f"{JOB_FUNCTION}(<{len(commands)} commands>, {reply_to!r}, {shard})"
    script(
        keys=[
            Job.redis_job_namespace_prefix + job_id,
            Queue.redis_queue_namespace_prefix + origin,
            Queue.redis_queues_keys,
        ],
        args=[job_id, created, data, description, origin],
        client=client,
    )


_gateway: OrderGateway | None = None
_gateway_lock = threading.Lock()


def get_gateway() -> OrderGateway:
    """This process's gateway, created on first use."""
    global _gateway
    if _gateway is None:
        with _gateway_lock:
            if _gateway is None:
                _gateway = OrderGateway(
                    settings.REDIS_URL, reply_timeout=settings.ENGINE_REPLY_TIMEOUT
                )
    return _gateway


def log_fields(reply: dict[str, Any]) -> dict[str, Any]:
    """The ``extra`` of a log line about one engine request: its request_id and, once
    applied, its sequence number (fields of the JSON logs: docs/operations.md, "Logs")."""
    fields: dict[str, Any] = {"request_id": reply["request_id"]}
    if reply.get("sequence") is not None:
        fields["seq"] = reply["sequence"]
    return fields


def engine_call(command: dict[str, Any], *, shard: int | None = None) -> dict[str, Any]:
    """Stamp, send and wait for one command: the one entry point services use. ``shard``
    is the engine shard of the command's market (``MarketUnits.shard``); None sends it to
    the default shard, which also holds the balances, for commands of no market."""
    gateway = get_gateway()
    command.setdefault("request_id", gateway.new_request_id())
    command.setdefault("ts", now_ms())
    return gateway.call(settings.ENGINE_DEFAULT_SHARD if shard is None else shard, command)
