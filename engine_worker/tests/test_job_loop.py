"""The engine worker's own job loop on RQ's queue (engine_worker/worker.py): waiting jobs
apply as one batch with one commit, each job's replies on its own channel; the jobs'
bookkeeping is part of that commit; jobs the engine cannot run are failed into RQ's
FailedJobRegistry and the next one applies; jobs left in progress are failed at start.

Real EngineRuntimes in this process on shards of their own (46..49), with deposits of
users of their own, on the session's Redis."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from engine_client import commands as engine_commands
from engine_worker import jobs, worker
from engine_worker.runtime import EngineRuntime, Pending
from engine_worker.worker import JOB_FUNCTION, JobLoop, fail_abandoned_jobs, in_progress_key
from infra import keys
from persistence.snapshot import Snapshot

USERS = range(7_100_001, 7_100_010)
ASSET = "JLOOP"


@pytest.fixture
def conn() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(settings.REDIS_URL)
    yield connection
    for user in USERS:
        connection.delete(keys.rm_balances(user))


class Shard:
    """An engine runtime on a shard of its own, its RQ queue and reply channels."""

    def __init__(self, conn: redis.Redis, shard: int) -> None:
        self.conn, self.shard = conn, shard
        queue_key = f"rq:queue:{keys.queue(shard)}"
        conn.delete(
            keys.events_stream(shard),
            keys.commands_stream(shard),
            queue_key,
            f"{queue_key}:intermediate",
            f"rq:failed:{keys.queue(shard)}",
        )
        self.runtime = EngineRuntime(shard, fee_account=1, connection=conn)
        self.queue = Queue(keys.queue(shard), connection=conn, serializer=JSONSerializer)
        self.pubsub = conn.pubsub(ignore_subscribe_messages=True)
        self.requests = 0

    def deposit(self, user: int, amount: int = 10**8) -> dict[str, Any]:
        self.requests += 1
        return engine_commands.stamped(
            engine_commands.deposit(user_id=user, asset=ASSET, amount=amount, decimals=8),
            request_id=f"loop-{self.shard}-{time.time_ns()}-{self.requests}",
            ts=time.time_ns() // 1_000_000,
        )

    def channel(self, name: str) -> str:
        channel = f"engine.reply.loop-{self.shard}-{name}-{time.time_ns()}"
        self.pubsub.subscribe(channel)
        return channel

    def enqueue(self, *args: Any, function: str = JOB_FUNCTION) -> Job:
        """As the gateway does (engine_client/gateway.py)."""
        return self.queue.enqueue_call(
            function, args=args, timeout=-1, result_ttl=0, failure_ttl=3600
        )

    def replies(self, wanted: int, wait: float = 5) -> dict[str, list[dict[str, Any]]]:
        """The reply messages heard, by channel (each message's body)."""
        heard: dict[str, list[dict[str, Any]]] = {}
        deadline = time.monotonic() + wait
        count = 0
        while count < wanted and time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                heard.setdefault(message["channel"].decode(), []).append(
                    json.loads(message["data"])
                )
                count += 1
        return heard

    def work(self) -> None:
        JobLoop(self.runtime, self.queue).work(burst=True)

    def failed(self) -> list[str]:
        return FailedJobRegistry(queue=self.queue).get_job_ids(cleanup=False)


def test_waiting_jobs_apply_as_one_commit_with_each_reply_on_its_own_channel(conn):
    shard = Shard(conn, 46)
    channels = [shard.channel(name) for name in "abc"]
    sent = [[shard.deposit(USERS[0])], [shard.deposit(USERS[1]), shard.deposit(USERS[2])], []]
    queued = [
        shard.enqueue(commands, channel, 46)
        for commands, channel in zip(sent, channels, strict=True)
    ]
    shard.work()
    assert conn.xlen(keys.commands_stream(46)) == 1  # one batch, one commit
    heard = shard.replies(3)
    for commands, channel in zip(sent, channels, strict=True):
        (message,) = heard[channel]  # one reply message per job, on its own channel
        assert message["shard"] == 46
        assert [r["request_id"] for r in message["replies"]] == [c["request_id"] for c in commands]
        assert all(r["ok"] for r in message["replies"])
    # done as RQ leaves a finished job of result_ttl 0: its hash gone, nothing in progress
    assert not any(conn.exists(job.key) for job in queued)
    assert conn.llen(shard.queue.key) == conn.llen(in_progress_key(shard.queue)) == 0
    assert shard.failed() == []


def test_the_jobs_bookkeeping_is_in_the_batchs_one_commit(conn, monkeypatch):
    """Removing the jobs from the in-progress list and deleting their hashes are words of
    the commit's one script call, beside the command log's XADD and the replies: no crash
    can fall between the commit and the bookkeeping."""
    shard = Shard(conn, 47)
    channel = shard.channel("a")
    job = shard.enqueue([shard.deposit(USERS[3])], channel, 47)
    calls: list[list[str]] = []
    send = shard.runtime.send

    def spy(pending: Pending) -> None:
        calls.append([w.decode() for w in pending.commit.word_list()])
        send(pending)

    monkeypatch.setattr(shard.runtime, "send", spy)
    shard.work()
    (words,) = calls  # one commit for the job
    text = " ".join(words)
    assert f"XADD {keys.commands_stream(47)}" in text
    assert f"PUBLISH {channel}" in text
    assert f"LREM {in_progress_key(shard.queue)} 1 {job.id}" in text
    assert f"DEL {job.key}" in text
    assert not conn.exists(job.key)


def test_a_fail_stop_leaves_the_batch_in_progress_and_the_next_start_fails_it(conn, monkeypatch):
    shard = Shard(conn, 48)
    channel = shard.channel("a")
    job = shard.enqueue([shard.deposit(USERS[4])], channel, 48)

    class Exited(BaseException):
        pass

    def exit_(status: int) -> None:
        raise Exited(status)

    # Redis goes away once the batch is applied in memory, before its commit is sent
    gone = False
    pool = shard.runtime.redis.connection_pool
    get_connection, prepare = pool.get_connection, shard.runtime.prepare

    def connect(*args: Any, **kwargs: Any) -> Any:
        if gone:
            raise redis.ConnectionError("Redis went away during the commit")
        return get_connection(*args, **kwargs)

    def prepare_then_lose_redis(*args: Any, **kwargs: Any) -> Any:
        nonlocal gone
        pending = prepare(*args, **kwargs)
        gone = True
        return pending

    monkeypatch.setattr(jobs.os, "_exit", exit_)
    monkeypatch.setattr(pool, "get_connection", connect)
    monkeypatch.setattr(shard.runtime, "prepare", prepare_then_lose_redis)
    with pytest.raises(Exited) as exited:
        shard.work()
    gone = False
    assert exited.value.args == (jobs.FAIL_STOP_EXIT,)
    taken = in_progress_key(shard.queue)
    assert [i.decode() for i in conn.lrange(taken, 0, -1)] == [job.id]  # still in progress
    assert conn.exists(job.key)
    assert shard.replies(1, wait=0.3) == {}  # nobody was told anything

    restarted = Shard.__new__(Shard)  # the next start, on the same keys
    restarted.__dict__.update(shard.__dict__)
    restarted.runtime = EngineRuntime(48, fee_account=1, connection=conn)
    fail_abandoned_jobs(restarted.runtime, restarted.queue)
    assert restarted.failed() == [job.id]
    assert job.get_status(refresh=True) == JobStatus.FAILED
    assert conn.llen(taken) == 0
    assert shard.replies(1) == {channel: [{"shard": 48, "replies": []}]}
    restarted.work()  # and it does not run again
    assert conn.xlen(keys.commands_stream(48)) == 0


def test_jobs_the_engine_cannot_run_are_failed_and_the_next_one_applies(conn, caplog):
    shard = Shard(conn, 49)
    told, good = shard.channel("told"), shard.channel("good")
    bad = [
        shard.enqueue("echo", function="os.system"),  # not an engine job
        shard.enqueue("garbage", told, 49),  # commands not a list
        shard.enqueue([shard.deposit(USERS[5])], told, 5),  # another shard's
        shard.enqueue([shard.deposit(USERS[6])]),  # arguments missing
    ]
    deposit = shard.deposit(USERS[7])
    shard.enqueue([deposit], good, 49)
    shard.work()
    assert sorted(shard.failed()) == sorted(job.id for job in bad)
    for job in bad:
        assert job.get_status(refresh=True) == JobStatus.FAILED
        result = job.latest_result()
        assert result is not None and "BadJob" in (result.exc_string or "")
        assert any(job.id in r.getMessage() for r in caplog.records), job.id
    heard = shard.replies(3)
    (message,) = heard[good]
    assert [(r["request_id"], r["ok"]) for r in message["replies"]] == [
        (deposit["request_id"], True)
    ]
    # the gateway of a failed job hears that it is over (an empty reply)
    assert heard[told] == [{"shard": 49, "replies": []}] * 2
    assert conn.llen(in_progress_key(shard.queue)) == 0


def test_jobs_taken_but_not_started_at_a_stop_go_back_to_the_front_of_the_queue(conn):
    shard = Shard(conn, 46)
    first = shard.enqueue([shard.deposit(USERS[8])], "nowhere", 46)
    second = shard.enqueue([shard.deposit(USERS[8])], "nowhere", 46)
    loop = JobLoop(shard.runtime, shard.queue)
    assert [job_id for job_id, _ in loop.take()] == [first.id, second.id]
    third = shard.enqueue([shard.deposit(USERS[8])], "nowhere", 46)
    loop._give_back()
    assert [i.decode() for i in conn.lrange(shard.queue.key, 0, -1)] == [
        first.id,
        second.id,
        third.id,
    ]
    assert conn.llen(in_progress_key(shard.queue)) == 0
    shard.work()  # they run in order after all
    assert conn.llen(shard.queue.key) == 0


def test_waiting_jobs_past_the_batch_size_apply_in_several_batches(conn, monkeypatch):
    from engine_worker import worker

    monkeypatch.setattr(worker, "MAX_BATCH_COMMANDS", 2)
    shard = Shard(conn, 47)
    channel = shard.channel("a")
    sizes = [1, 1, 1, 3, 1]
    for size in sizes:
        shard.enqueue([shard.deposit(USERS[0]) for _ in range(size)], channel, 47)
    shard.work()
    # [1, 1], [1], [3] (a job is never split), [1]
    entries = conn.xrange(keys.commands_stream(47))
    assert [len(json.loads(fields[b"commands"])) for _, fields in entries] == [2, 1, 3, 1]
    assert len(shard.replies(5)[channel]) == 5


def test_an_error_after_the_commit_neither_fails_nor_reruns_the_jobs(conn, monkeypatch):
    shard = Shard(conn, 48)
    channel = shard.channel("a")
    shard.enqueue([shard.deposit(USERS[1])], channel, 48)
    shard.enqueue([shard.deposit(USERS[2])], channel, 48)

    def broken(*args: Any) -> None:
        raise RuntimeError("counting failed")

    monkeypatch.setattr(shard.runtime.metrics, "count", broken)
    shard.work()
    assert conn.xlen(keys.commands_stream(48)) == 1
    heard = shard.replies(3, wait=1)[channel]
    assert [r["ok"] for message in heard for r in message["replies"]] == [True, True]
    assert shard.failed() == []


def test_the_loop_runs_the_job_function_the_gateway_enqueues():
    from engine_client import gateway

    named = f"{jobs.apply_batch.__module__}.{jobs.apply_batch.__qualname__}"
    assert JOB_FUNCTION == gateway.JOB_FUNCTION == named


def test_a_job_left_in_progress_by_a_lost_connection_runs_with_the_next_take(conn):
    """BLMOVE moved the job, then the connection broke before the take fetched it."""
    shard = Shard(conn, 49)
    channel = shard.channel("a")
    moved = shard.enqueue([shard.deposit(USERS[3])], channel, 49)
    conn.lmove(shard.queue.key, in_progress_key(shard.queue), "LEFT", "RIGHT")
    shard.enqueue([shard.deposit(USERS[4])], channel, 49)
    shard.work()
    assert conn.xlen(keys.commands_stream(49)) == 1
    assert len(shard.replies(2)[channel]) == 2
    assert not conn.exists(moved.key)
    assert conn.llen(in_progress_key(shard.queue)) == 0


def _traced(shard: Shard, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The runtime's prepare / send / confirm calls, each with its batch's first seq."""
    calls: list[tuple[str, int]] = []
    runtime = shard.runtime
    prepare, send, confirm = runtime.prepare, runtime.send, runtime.confirm

    def traced_prepare(*args: Any, **kwargs: Any) -> Pending:
        pending = prepare(*args, **kwargs)
        calls.append(("prepare", pending.first))
        return pending

    def traced_send(pending: Pending) -> None:
        send(pending)
        calls.append(("send", pending.first))

    def traced_confirm(pending: Pending) -> None:
        confirm(pending)
        calls.append(("confirm", pending.first))

    monkeypatch.setattr(runtime, "prepare", traced_prepare)
    monkeypatch.setattr(runtime, "send", traced_send)
    monkeypatch.setattr(runtime, "confirm", traced_confirm)
    return calls


def test_the_next_batch_applies_while_redis_runs_the_commit_before_it(conn, monkeypatch):
    """Batch N's commit is sent, batch N+1 is applied in memory, then N's answer is read
    and N+1's commit sent: one commit in flight, in sequence order. A job that comes while
    a batch applies is taken before that batch's commit is sent, and applied while it
    runs."""
    from engine_worker import worker

    monkeypatch.setattr(worker, "MAX_BATCH_COMMANDS", 1)  # one job, one batch
    shard = Shard(conn, 46)
    channel = shard.channel("a")
    for user in USERS[:3]:
        shard.enqueue([shard.deposit(user)], channel, 46)
    calls = _traced(shard, monkeypatch)
    prepare = shard.runtime.prepare

    def prepare_and_a_job_comes(*args: Any, **kwargs: Any) -> Pending:
        pending = prepare(*args, **kwargs)
        if pending.first == 3:
            shard.enqueue([shard.deposit(USERS[3])], channel, 46)
        return pending

    monkeypatch.setattr(shard.runtime, "prepare", prepare_and_a_job_comes)
    shard.work()
    assert calls == [
        ("prepare", 1), ("send", 1),
        ("prepare", 2), ("confirm", 1), ("send", 2),
        ("prepare", 3), ("confirm", 2), ("send", 3),  # the 4th job taken before this send
        ("prepare", 4), ("confirm", 3), ("send", 4),
        ("confirm", 4),
    ]  # fmt: skip
    entries = conn.xrange(keys.commands_stream(46))
    assert [int(fields[b"first_seq"]) for _, fields in entries] == [1, 2, 3, 4]
    assert len(shard.replies(4)[channel]) == 4
    assert conn.llen(shard.queue.key) == conn.llen(in_progress_key(shard.queue)) == 0


def test_a_commit_that_fails_behind_the_next_applied_batch_fail_stops_and_both_are_recovered(
    conn, monkeypatch
):
    """The answer to batch 1's commit is lost (it ran) while batch 2 is applied in memory,
    its commit not sent: the worker stops; the next start has batch 1 in the log and fails
    batch 2's job as abandoned, never run."""
    from engine_worker import worker

    monkeypatch.setattr(worker, "MAX_BATCH_COMMANDS", 1)
    shard = Shard(conn, 47)
    channel = shard.channel("a")
    first = shard.enqueue([shard.deposit(USERS[4])], channel, 47)
    second = shard.enqueue([shard.deposit(USERS[5])], channel, 47)
    calls = _traced(shard, monkeypatch)
    receive = shard.runtime._receive

    def answer_lost(pending: Pending) -> Any:
        receive(pending)  # it ran
        raise redis.ConnectionError("connection lost before the answer")

    class Exited(BaseException):
        pass

    def exit_(status: int) -> None:
        raise Exited(status)

    monkeypatch.setattr(jobs.os, "_exit", exit_)
    monkeypatch.setattr(shard.runtime, "_receive", answer_lost)
    with pytest.raises(Exited):
        shard.work()
    assert calls == [("prepare", 1), ("send", 1), ("prepare", 2)]
    assert shard.runtime.engine.next_seq == 3  # both applied in memory
    assert conn.xlen(keys.commands_stream(47)) == 1  # batch 1 only: no gap, nothing after
    taken = in_progress_key(shard.queue)
    assert [i.decode() for i in conn.lrange(taken, 0, -1)] == [second.id]
    assert not conn.exists(first.key)

    monkeypatch.undo()
    restarted = EngineRuntime(47, fee_account=1, connection=conn)
    restarted.recover(Snapshot())
    assert restarted.engine.next_seq == 2
    assert restarted.engine.balance(USERS[4], ASSET)[0] > 0
    assert restarted.engine.balance(USERS[5], ASSET) == (0, 0)
    fail_abandoned_jobs(restarted, shard.queue)
    assert shard.failed() == [second.id]


def test_a_quick_batch_from_idle_is_sent_without_taking_more_first(conn, monkeypatch):
    """One job on an idle worker: its commit goes out at once (the take of the jobs that
    came meanwhile would only add a round trip to its latency); under load, it is taken."""
    shard = Shard(conn, 48)
    channel = shard.channel("a")
    shard.enqueue([shard.deposit(USERS[6])], channel, 48)
    loop = JobLoop(shard.runtime, shard.queue)
    takes: list[bool] = []
    take = loop.take

    def traced_take(*, only_new: bool = False) -> list[tuple[str, bytes | None]]:
        takes.append(only_new)
        return take(only_new=only_new)

    monkeypatch.setattr(loop, "take", traced_take)
    loop.work(burst=True)
    assert takes == [False, False]  # the job, then (burst) the empty queue: no take of new ids
    assert len(shard.replies(1)[channel]) == 1

    from engine_worker import worker

    monkeypatch.setattr(worker, "TAKE_MORE_AFTER", 0)  # every batch counts as a long one
    shard.enqueue([shard.deposit(USERS[6])], channel, 48)
    takes.clear()
    loop.work(burst=True)
    assert takes == [False, True, False]


def test_the_worker_settles_its_heap_and_raises_the_collectors_thresholds():
    """What run_engine does once recovered: what exists then is frozen (the books), and
    the collector no longer rescans a batch's live objects every 700 allocations."""
    before = gc.get_threshold()
    kept = [{"a resting order": i} for i in range(100)]
    try:
        worker.settle_heap()
        assert gc.get_threshold() == worker.GC_THRESHOLDS
        assert worker.GC_THRESHOLDS[0] >= 10 * 700
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
