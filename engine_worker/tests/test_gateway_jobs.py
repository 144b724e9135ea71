"""The gateway writes its RQ jobs itself (engine_client/gateway.py, enqueue_job: one
script, not Queue.enqueue_call): what it writes must stay an RQ job that RQ reads
(Job.fetch, the queue, rq info's set of queues, the FailedJobRegistry) and that the
engine worker's loop decodes and runs.

A real EngineRuntime in this process on shard 45, with deposits of users of its own, on
the session's Redis."""

from __future__ import annotations

import datetime
import json
import re
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from rq.utils import now, utcformat, utcparse

from engine_client import commands as engine_commands
from engine_client import gateway
from engine_client.gateway import ENQUEUE_JOB, FAILURE_TTL, enqueue_job, rq_timestamp
from engine_worker.runtime import EngineRuntime
from engine_worker.worker import (
    JOB_FUNCTION,
    JobLoop,
    decode_job,
    decode_job_text,
    in_progress_key,
)
from infra import keys

SHARD = 45
USERS = range(7_200_001, 7_200_004)
ASSET = "GWJOB"
# what differs from one job to the next, not what RQ's fields are
PER_JOB = {b"created_at", b"enqueued_at", b"data", b"description"}


@pytest.fixture
def conn() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(settings.REDIS_URL)
    queue_key = Queue.redis_queue_namespace_prefix + keys.queue(SHARD)
    connection.delete(
        keys.events_stream(SHARD),
        keys.commands_stream(SHARD),
        queue_key,
        f"{queue_key}:intermediate",
        f"rq:failed:{keys.queue(SHARD)}",
    )
    yield connection
    connection.delete(*(Job.key_for(f"gwjob-{name}") for name in ("1", "2", "bad", "good")))
    for user in USERS:
        connection.delete(keys.rm_balances(user))


def deposit(user: int) -> dict[str, Any]:
    return engine_commands.stamped(
        engine_commands.deposit(user_id=user, asset=ASSET, amount=10**8, decimals=8),
        request_id=f"gwjob-{time.time_ns()}-{user}",
        ts=time.time_ns() // 1_000_000,
    )


def write(conn: redis.Redis, job_id: str, *args: Any) -> None:
    enqueue_job(conn.register_script(ENQUEUE_JOB), job_id, *args)


def test_the_job_hash_has_the_fields_and_values_rq_writes(conn):
    commands = [deposit(USERS[0]), deposit(USERS[1])]
    args = (commands, "engine.reply.gwjob", SHARD)
    queue = Queue(keys.queue(SHARD), connection=conn, serializer=JSONSerializer)
    conn.srem(Queue.redis_queues_keys, queue.key)
    rqs = queue.enqueue_call(
        JOB_FUNCTION, args=args, timeout=-1, result_ttl=0, failure_ttl=FAILURE_TTL
    )
    write(conn, "gwjob-1", *args)
    theirs, ours = conn.hgetall(rqs.key), conn.hgetall(Job.key_for("gwjob-1"))
    assert set(ours) == set(theirs)
    assert {k: v for k, v in ours.items() if k not in PER_JOB} == {
        k: v for k, v in theirs.items() if k not in PER_JOB
    }
    assert json.loads(ours[b"data"]) == json.loads(zlib.decompress(theirs[b"data"]))
    assert ours[b"created_at"] == ours[b"enqueued_at"]
    # on the queue after RQ's, and the queue in the set rq info lists
    assert queue.job_ids == [rqs.id, "gwjob-1"]
    assert conn.sismember(Queue.redis_queues_keys, queue.key)
    assert queue in Queue.all(connection=conn)
    rqs.delete()


def test_the_job_dates_are_written_as_rq_writes_them():
    shape = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
    before = utcparse(utcformat(now()))
    stamp = rq_timestamp()
    after = utcparse(utcformat(now()))
    assert shape.fullmatch(stamp) and shape.fullmatch(utcformat(now()))
    assert before <= utcparse(stamp) <= after
    assert after - before < datetime.timedelta(seconds=1)


def test_rq_fetches_the_job_and_the_worker_decodes_it(conn):
    commands = [deposit(USERS[0])]
    write(conn, "gwjob-2", commands, "engine.reply.gwjob", SHARD)
    job = Job.fetch("gwjob-2", connection=conn, serializer=JSONSerializer)
    assert job.func_name == JOB_FUNCTION == gateway.JOB_FUNCTION
    assert job.args == [commands, "engine.reply.gwjob", SHARD] and job.kwargs == {}
    assert job.get_status(refresh=False) == JobStatus.QUEUED
    assert job.origin == keys.queue(SHARD)
    assert (job.timeout, job.result_ttl, job.failure_ttl) == (-1, 0, FAILURE_TTL)
    assert job.enqueued_at is not None and job.created_at == job.enqueued_at
    assert job.description == f"{JOB_FUNCTION}(<1 commands>, 'engine.reply.gwjob', {SHARD})"
    data = conn.hget(job.key, "data")
    assert decode_job(data, SHARD) == (commands, "engine.reply.gwjob")


def test_the_worker_finds_the_commands_text_in_the_gateways_job(conn):
    """decode_job_text: the commands' JSON text, as the data holds it, for the command log;
    in the gateway's job and RQ's own (both json.dumps), none in data laid out otherwise
    (then the log encodes the commands again)."""
    commands = [deposit(USERS[0]), deposit(USERS[1])]
    write(conn, "gwjob-3", commands, 'engine.reply."q"', SHARD)
    ours = conn.hget(Job.redis_job_namespace_prefix + "gwjob-3", "data")
    queue = Queue(keys.queue(SHARD), connection=conn, serializer=JSONSerializer)
    theirs = queue.enqueue(JOB_FUNCTION, commands, 'engine.reply."q"', SHARD)
    for data in (ours, conn.hget(theirs.key, "data")):
        found, reply_to, text = decode_job_text(data, SHARD)
        assert (found, reply_to) == (commands, 'engine.reply."q"')
        raw = data if data.startswith(b"[") else zlib.decompress(data)  # RQ's: compressed
        assert text is not None and json.loads(text) == commands and text in raw
    compact = json.dumps(
        [JOB_FUNCTION, None, [commands, "engine.reply.x", SHARD], {}], separators=(",", ":")
    ).encode()
    assert decode_job_text(compact, SHARD) == (commands, "engine.reply.x", None)
    queue.empty()


def test_the_worker_runs_the_jobs_and_fails_one_into_rqs_registry(conn):
    runtime = EngineRuntime(SHARD, fee_account=1, connection=conn)
    queue = Queue(keys.queue(SHARD), connection=conn, serializer=JSONSerializer)
    pubsub = conn.pubsub(ignore_subscribe_messages=True)
    channel = f"engine.reply.gwjob-{time.time_ns()}"
    pubsub.subscribe(channel)
    good = deposit(USERS[2])
    write(conn, "gwjob-bad", "garbage", channel, SHARD)  # commands not a list
    write(conn, "gwjob-good", [good], channel, SHARD)
    JobLoop(runtime, queue).work(burst=True)
    heard = []
    deadline = time.monotonic() + 5
    while len(heard) < 2 and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.2)
        if message and message["type"] == "message":
            heard.append(json.loads(message["data"]))
    assert {"shard": SHARD, "replies": []} in heard  # the failed job's gateway is told
    (done,) = [m for m in heard if m["replies"]]
    assert [(r["request_id"], r["ok"]) for r in done["replies"]] == [(good["request_id"], True)]
    assert not conn.exists(Job.key_for("gwjob-good"))  # done: deleted (result_ttl 0)
    assert FailedJobRegistry(queue=queue).get_job_ids(cleanup=False) == ["gwjob-bad"]
    failed = Job.fetch("gwjob-bad", connection=conn, serializer=JSONSerializer)
    assert failed.get_status(refresh=True) == JobStatus.FAILED
    result = failed.latest_result()
    assert result is not None and "BadJob" in (result.exc_string or "")
    assert conn.llen(in_progress_key(queue)) == 0 and queue.count == 0
