"""The engine worker process: it keeps the books in memory and runs the jobs of its
shard's RQ queue itself, several at a time.

The gateway enqueues ordinary RQ jobs (the job hash as ``Queue.enqueue_call`` writes it,
its id pushed on ``rq:queue:engine.<shard>``: engine_client/gateway.py), so ``rq info``,
the job hashes and the failed registry stay RQ's. Running them, the worker does far less
than RQ's SimpleWorker, whose per-job bookkeeping (status, started registry, execution
records, worker heartbeats, finished handling: about 28 Redis round trips) cost more than
the engine's work on a one-command job. Here a job costs its share of two round trips
(docs/architecture.md):

1. take: one script moves the waiting job ids (at most MAX_JOBS) from the queue to the
   in-progress list (RQ's intermediate queue of the same queue) and returns each job's
   data; when nothing waits, BLMOVE blocks for the next id first;
2. apply: the jobs' commands as one batch (EngineRuntime.apply_jobs), whose one atomic
   commit also removes the jobs from the in-progress list and deletes their hashes (their
   result_ttl is 0: what RQ does for a finished job). A crash before the commit leaves
   them in progress, failed at the next start (fail_abandoned_jobs); after it, they are
   done: there is no moment in between.

A job that is not ``engine_worker.jobs.apply_batch`` for this shard, or whose arguments
are not (commands, reply_to, shard), is failed into RQ's FailedJobRegistry with a log
line, and the worker goes on.
"""

from __future__ import annotations

import gc
import json
import logging
import signal
import threading
import time
import zlib
from collections.abc import Iterable
from types import FrameType
from typing import Any

import redis
from rq import Queue
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.results import Result
from rq.serializers import JSONSerializer

from engine_client.commands import JOB_FUNCTION, job_data
from engine_worker import jobs
from engine_worker.runtime import EngineRuntime, Pending
from infra import keys, metrics, shards
from marketdata.units import MarketUnits
from persistence.snapshot import Limits, Snapshot

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0
HEARTBEAT_TTL = 5
MAX_JOBS = 64  # jobs taken at once at most
MAX_BATCH_COMMANDS = 1000  # commands of the jobs applied as one batch (one job: any number)
# Before a commit is sent, the jobs that came meanwhile are taken (to apply while it
# runs) if a commit was in flight or the batch took this long to apply (seconds): after a
# quick batch from idle, likely none came, and the take would only add its round trip.
TAKE_MORE_AFTER = 0.0005
# The cyclic collector's thresholds in the worker (gc.set_threshold; Python's default is
# 700, 10, 10). A batch allocates tens of thousands of dicts, lists and texts that live
# until its commit; at the default, the collector scans them again every 700 allocations
# and promotes them: 1.06x on 1,000-command batches (bench/engine_runtime.py prints it),
# more as the books grow past what gc.freeze() took at start-up. What the worker
# allocates is almost never cyclic.
GC_THRESHOLDS = (50_000, 20, 100)
WAIT_SECONDS = 1  # one blocking wait for a job (a stop signal interrupts it)
RECONNECT_SECONDS = (0.5, 1, 2, 4, 8)  # waits between tries while Redis is unreachable

# Move job ids from the queue (KEYS[1]) to the in-progress list (KEYS[2]), up to ARGV[1]
# there in all, and return each id there with its job hash's data field (ARGV[2] is RQ's
# job key prefix): one round trip for the whole batch. With ARGV[3] = 1, the ids in
# progress already are returned too (and count): the one BLMOVE moved, one a lost
# connection left; with 0 only the new ones (those in progress are being applied).
TAKE_JOBS = """
local ids = {}
if ARGV[3] == '1' then ids = redis.call('LRANGE', KEYS[2], 0, -1) end
local room = tonumber(ARGV[1]) - #ids
if room > 0 then
  local popped = redis.call('LPOP', KEYS[1], room)
  if popped then
    redis.call('RPUSH', KEYS[2], unpack(popped))
    for _, id in ipairs(popped) do ids[#ids + 1] = id end
  end
end
local out = {}
for i, id in ipairs(ids) do
  out[2 * i - 1] = id
  out[2 * i] = redis.call('HGET', ARGV[2] .. id, 'data')
end
return out
"""


def _heartbeat(
    connection: redis.Redis, shard: int, stop: threading.Event, lost: threading.Event
) -> None:
    """Refresh the shard's alive key every second, and set ``lost`` when the read model's
    marker went missing while the engine runs (a Redis restarted without persistence):
    the job loop rebuilds it between batches (JobLoop.read_model_lost)."""
    while not stop.is_set():
        try:
            connection.set(keys.alive(shard), "1", ex=HEARTBEAT_TTL)
            if not connection.exists(keys.rm_ready(shard)):
                lost.set()
        except redis.RedisError:
            logger.warning("engine shard %d: heartbeat failed (Redis down?)", shard)
        stop.wait(HEARTBEAT_SECONDS)


def in_progress_key(queue: Queue) -> str:
    """The list of the jobs the worker took and has not finished: RQ's own intermediate
    queue of ``queue`` (where its workers keep a job between dequeue and start)."""
    return queue.intermediate_queue_key


class BadJob(Exception):
    """A job on an engine queue that the engine cannot run."""


def decode_job(data: bytes, shard: int) -> tuple[list[Any], str | None]:
    """A job hash's ``data`` (RQ's format: zlib-compressed, JSONSerializer's
    [function, instance, args, kwargs]) as the engine job's (commands, reply_to)."""
    commands, reply_to, _ = decode_job_text(data, shard)
    return commands, reply_to


def decode_job_text(data: bytes, shard: int) -> tuple[list[Any], str | None, bytes | None]:
    """:func:`decode_job`, and the commands' JSON text (an array) as it is in the data when
    the data is laid out as json.dumps writes it (the gateway's, RQ's own enqueue): the
    command log takes it as it is rather than encode the commands again. None otherwise
    (a job written otherwise is encoded again)."""
    try:
        raw = zlib.decompress(data)
    except zlib.error:
        raw = data  # RQ's fallback: stored uncompressed
    try:
        function, instance, args, kwargs = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise BadJob(f"undecodable job data ({exc})") from None
    if function != JOB_FUNCTION or instance is not None:
        raise BadJob(f"not an engine job: {function!r}")
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise BadJob("malformed job arguments")
    named = ("commands", "reply_to", "shard")
    if len(args) > len(named) or set(kwargs) - set(named[len(args) :]):
        raise BadJob("malformed job arguments")
    values = dict(zip(named, args, strict=False)) | kwargs
    if set(values) != set(named):
        raise BadJob("malformed job arguments")
    commands, reply_to = values["commands"], values["reply_to"]
    if values["shard"] != shard:
        raise BadJob(f"a job for shard {values['shard']!r} on shard {shard}'s queue")
    if not isinstance(reply_to, str | None):
        raise BadJob("malformed job arguments: reply_to is not a channel")
    if not isinstance(commands, list):
        raise BadJob("malformed job arguments: commands is not a list")
    # The data parsed as [function, null, [commands, reply_to, shard], {}]: with the head
    # and tail the gateway writes around the commands (its job without commands has "[]"
    # there, the first in it), what lies between is their text.
    head, tail = job_data([], reply_to, shard).encode().split(b"[]", 1)
    text = None
    if raw.startswith(head) and raw.endswith(tail):
        text = raw[len(head) : len(raw) - len(tail)]
        if text[:1] != b"[" or text[-1:] != b"]":
            text = None
    return commands, reply_to, text


def fail_jobs(
    queue: Queue, failures: Iterable[tuple[str, str]], *, shard: int, taken: str | None = None
) -> None:
    """Move jobs (id, why) to RQ's FailedJobRegistry as RQ's worker does (status failed,
    the reason as the job's failed Result, kept for its failure_ttl), tell each job's
    gateway that it is over (an empty reply, so commands waiting behind it go now), and
    remove them from the in-progress list ``taken``: one pipeline. A job whose hash is
    gone is only removed."""
    connection = queue.connection
    registry = FailedJobRegistry(queue=queue)
    with connection.pipeline() as pipe:
        for job_id, why in failures:
            if taken:
                pipe.lrem(taken, 1, job_id)
            try:
                job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
            except NoSuchJobError:
                continue
            job.set_status(JobStatus.FAILED, pipeline=pipe)
            registry.add(job, ttl=job.failure_ttl, exc_string=why, pipeline=pipe)
            # the reason where RQ keeps it (rq info, job.latest_result())
            Result.create_failure(
                job, job.failure_ttl, exc_string=why, worker_name=f"engine-{shard}", pipeline=pipe
            )
            try:
                args = job.args
            except DeserializationError:  # nobody to tell
                args = ()
            reply_to = args[1] if isinstance(args, list | tuple) and len(args) > 1 else None
            if isinstance(reply_to, str):
                pipe.publish(reply_to, json.dumps({"shard": shard, "replies": []}))
        pipe.execute()


def fail_abandoned_jobs(runtime: EngineRuntime, queue: Queue) -> None:
    """Jobs a dead worker of this shard had taken but not finished: in the in-progress
    list (this worker's) or RQ's started registry (a SimpleWorker's, before this loop).
    A batch's commands are committed all together, with its jobs' removal from the
    in-progress list, or not at all, and RQ must not run them again (engine jobs never
    retry): log what became of each, then move them to the failed registry. Only one
    worker serves a shard, so at start-up every taken job is abandoned. Its gateway is
    told the job is over (an empty reply), so commands waiting behind it go."""
    started = StartedJobRegistry(queue=queue)
    connection = queue.connection
    taken = in_progress_key(queue)
    entries = connection.zrange(started.key, 0, -1)
    ids = [i.decode() for i in connection.lrange(taken, 0, -1)]
    ids += [started.parse_job_id(entry) for entry in entries]
    failures = []
    for job_id in dict.fromkeys(ids):
        try:
            job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
            commands = job.args[0] if job.args and isinstance(job.args[0], list) else []
        except NoSuchJobError:
            continue
        except DeserializationError:  # a bad job, failed all the same
            commands = []
        request_ids = [c.get("request_id") for c in commands if isinstance(c, dict)]
        applied = sum(1 for i in request_ids if i in runtime.recent_requests)
        logger.warning(
            "abandoned job %s (its worker died mid-job): %d of %d commands had been "
            "applied (request ids %s); none will run again",
            job_id,
            applied,
            len(request_ids),
            ", ".join(str(i) for i in request_ids[:20]) + (" ..." if len(request_ids) > 20 else ""),
        )
        failures.append((job_id, "abandoned: its engine worker died mid-job"))
    fail_jobs(queue, failures, shard=runtime.shard)
    with connection.pipeline() as pipe:
        if entries:
            pipe.zrem(started.key, *entries)
        pipe.delete(taken)
        pipe.execute()


_Job = tuple[list[Any], str | None, str, bytes | None]  # commands, reply_to, job id, text


def _first_batch(held: list[_Job]) -> tuple[list[_Job], list[_Job]]:
    """The jobs of the next batch (up to MAX_BATCH_COMMANDS commands, or one job) and
    the rest."""
    size = len(held[0][0])
    end = 1
    while end < len(held) and size + len(held[end][0]) <= MAX_BATCH_COMMANDS:
        size += len(held[end][0])
        end += 1
    return held[:end], held[end:]


def settle_heap() -> None:
    """Once recovered: the books and balances are long-lived, kept out of the cyclic
    collector's generations (gc.freeze), and the collector runs at GC_THRESHOLDS."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class _StopNow(Exception):
    """Raised by the stop signal's handler while the worker waits for a job."""


class JobLoop:
    """Takes the queue's jobs and applies them, as many as are waiting as one batch,
    until a stop signal (SIGTERM, SIGINT: after the jobs it has taken) or, in burst mode,
    until the queue is empty.

    Under load the worker never waits for Redis to run a commit: it sends batch N's
    commit, then applies batch N+1 in memory while Redis runs it, then reads N's answer
    and sends N+1's. Only one commit is ever in flight, and each is sent after the one
    before it succeeded, so the command log has no gaps; a failed commit is a FailStop as
    before (the memory, ahead by one more batch, is rebuilt from the log at the next
    start, and the jobs of both batches are failed as abandoned: neither was answered).
    The next batch's jobs are taken (one round trip, new ids only) after N's answer and
    before N+1's commit is sent; not after a quick batch from idle (TAKE_MORE_AFTER)."""

    def __init__(
        self, runtime: EngineRuntime, queue: Queue, *, max_jobs: int | None = None
    ) -> None:
        self.runtime = runtime
        self.queue = queue
        self.connection: redis.Redis = queue.connection
        self.taken = in_progress_key(queue)
        self.max_jobs = max_jobs or MAX_JOBS
        self._take = self.connection.register_script(TAKE_JOBS)
        self._job_prefix = Job.redis_job_namespace_prefix
        self._stopping = False
        self._waiting = False
        self._full = True  # whether the last take took all it could: jobs may be waiting
        # set by the heartbeat when the read model's marker is gone (a Redis restarted
        # without persistence): the loop rebuilds it with no commit in flight
        self.read_model_lost = threading.Event()

    def stop(self, signum: int = 0, frame: FrameType | None = None) -> None:
        self._stopping = True
        if self._waiting:
            raise _StopNow

    def work(self, *, burst: bool = False) -> None:
        handlers = {s: signal.signal(s, self.stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            with jobs.exit_on_fail_stop():
                self._work(burst)
        except _StopNow:
            pass
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        # not after an exception: a batch it interrupted stays in progress (abandoned)
        self._give_back()

    def _work(self, burst: bool) -> None:
        held: list[_Job] = []  # taken, not applied yet
        pending: Pending | None = None  # applied, its commit sent, not confirmed yet
        while True:
            if self.read_model_lost.is_set():
                self._confirm(pending)
                pending = None
                self._rebuild_read_model()
            if not held:
                self._confirm(pending)
                pending = None
                if self._stopping:
                    return
                taken = self._next(burst)
                if taken is None:
                    return  # burst mode: nothing waits
                held = self._runnable(taken)
                continue
            part, held = _first_batch(held)
            try:
                prepared = self.runtime.prepare(
                    [(commands, reply_to) for commands, reply_to, _, _ in part],
                    ops=self._bookkeeping([job_id for _, _, job_id, _ in part]),
                    texts=[text for _, _, _, text in part],
                )
            except Exception as exc:  # noqa: BLE001 - nothing was applied (else FailStop): fail the job
                self._confirm(pending)
                pending = None
                self._one_by_one(part, exc)
                continue
            busy = pending is not None or prepared.applied - prepared.started > TAKE_MORE_AFTER
            self._confirm(pending)  # Redis ran it while this batch applied
            pending = None
            if not held and busy and not self._stopping:  # to apply while this commit runs
                held = self._runnable(self._take_more())
            self.runtime.send(prepared)
            pending = prepared

    def _confirm(self, pending: Pending | None) -> None:
        if pending is not None:
            self.runtime.confirm(pending)

    def _next(self, burst: bool) -> list[tuple[str, bytes | None]] | None:
        """The next jobs: those waiting, or (none waiting) the next one to come. An empty
        list after a wait without a job or while Redis is unreachable; None in burst mode
        with nothing waiting. Two round trips when the last take drained the queue (BLMOVE,
        then the take with the others that came meanwhile), else one."""
        for attempt, pause in enumerate((0, *RECONNECT_SECONDS)):
            if attempt:
                self._waiting = True
                try:
                    time.sleep(pause)
                finally:
                    self._waiting = False
            try:
                if burst or self._full:  # else the queue was drained: wait for the next
                    taken = self.take()
                    if taken or burst:
                        return taken or None
                self._waiting = True
                try:
                    job_id = self.connection.blmove(self.queue.key, self.taken, WAIT_SECONDS)
                finally:
                    self._waiting = False
                return [] if job_id is None else self.take()
            except redis.ConnectionError as exc:
                logger.error(  # noqa: TRY400 - the cause is the message; no traceback needed
                    "engine shard %d: Redis unreachable (%s)", self.runtime.shard, exc
                )
                self._full = True  # a job BLMOVE moved may wait in progress: take first
        return []

    def take(self, *, only_new: bool = False) -> list[tuple[str, bytes | None]]:
        """Move the waiting jobs to the in-progress list and return each with its data
        (None: its hash is gone): with those there already (one BLMOVE moved, or a lost
        connection left), or, ``only_new``, not (those there are being applied)."""
        out = self._take(
            keys=[self.queue.key, self.taken],
            args=[self.max_jobs, self._job_prefix, int(not only_new)],
        )
        taken = [(out[i].decode(), out[i + 1]) for i in range(0, len(out), 2)]
        self._full = len(taken) >= self.max_jobs  # more may wait: look before waiting
        return taken

    def _take_more(self) -> list[tuple[str, bytes | None]]:
        try:
            return self.take(only_new=True)
        except redis.ConnectionError:
            self._full = True
            return []  # the commit about to be sent meets the same Redis: it says

    def _runnable(self, taken: list[tuple[str, bytes | None]]) -> list[_Job]:
        """The jobs ``taken`` the engine can run, in order; the others are failed."""
        shard = self.runtime.shard
        runnable: list[_Job] = []
        failures: list[tuple[str, str]] = []
        for job_id, data in taken:
            if data is None:  # deleted since it was queued: nothing to run or to fail
                logger.warning("job %s is gone (its hash was deleted); skipped", job_id)
                failures.append((job_id, "gone"))
                continue
            try:
                commands, reply_to, text = decode_job_text(data, shard)
            except BadJob as exc:
                logger.warning("job %s failed: %s", job_id, exc.args[0])
                failures.append((job_id, f"BadJob: {exc.args[0]}"))
                continue
            runnable.append((commands, reply_to, job_id, text))
        if failures:
            fail_jobs(self.queue, failures, shard=shard, taken=self.taken)
        return runnable

    def _bookkeeping(self, ids: list[str]) -> list[tuple[str, ...]]:
        """The jobs' removal, for their batch's commit: done as RQ leaves a finished job
        of result_ttl 0 (its hash deleted)."""
        ops: list[tuple[str, ...]] = [("LREM", self.taken, "1", job_id) for job_id in ids]
        ops.append(("DEL", *(self._job_prefix + job_id for job_id in ids)))
        return ops

    def _one_by_one(self, part: list[_Job], exc: Exception) -> None:
        """A batch that raised before the engine applied anything: each job on its own,
        so that one bad job fails alone (with no commit in flight)."""
        if len(part) > 1:
            for job in part:
                try:
                    self.runtime.apply_jobs([job[:2]], ops=self._bookkeeping([job[2]]))
                except Exception as one:  # noqa: BLE001 - nothing applied (else FailStop)
                    self._one_by_one([job], one)
            return
        job_id = part[0][2]
        logger.error("job %s failed: %s: %s", job_id, type(exc).__name__, exc, exc_info=exc)
        fail_jobs(
            self.queue,
            [(job_id, f"{type(exc).__name__}: {exc}")],
            shard=self.runtime.shard,
            taken=self.taken,
        )

    def _rebuild_read_model(self) -> None:
        self.read_model_lost.clear()
        try:
            self.runtime.ensure_read_model()
        except redis.RedisError:
            self.read_model_lost.set()  # the heartbeat sees it too; try again next time
            logger.warning("engine shard %d: rebuilding the read model failed (Redis down?)",
                           self.runtime.shard)  # fmt: skip
        except Exception:  # the engine stays available
            logger.exception(
                "engine shard %d: rebuilding the read model failed", self.runtime.shard
            )

    def _give_back(self) -> None:
        """Jobs taken but not started (a stop signal during the wait) go back to the front
        of the queue, in order: they run after the next start, not failed as abandoned."""
        try:
            while self.connection.lmove(self.taken, self.queue.key, "RIGHT", "LEFT"):
                pass
        except redis.RedisError:
            logger.warning("engine shard %d: could not give back taken jobs", self.runtime.shard)


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
    settle_heap()
    logger.info(
        "engine shard %d ready: %d markets, next sequence %d",
        shard,
        len(runtime.engine.markets),
        runtime.engine.next_seq,
        extra={"seq": runtime.engine.next_seq - 1},
    )
    stop = threading.Event()
    loop = JobLoop(runtime, queue)
    beat = threading.Thread(
        target=_heartbeat, args=(connection, shard, stop, loop.read_model_lost), daemon=True
    )
    beat.start()
    try:
        loop.work(burst=burst)
    finally:
        stop.set()
        connection.delete(keys.alive(shard))
        logger.info(
            "engine shard %d stopped at sequence %d",
            shard,
            runtime.engine.next_seq,
            extra={"seq": runtime.engine.next_seq - 1},
        )
