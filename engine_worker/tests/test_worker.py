"""The engine worker as its own process, through real Redis: batching, replies, bad
commands, timeouts and restart recovery."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.conf import settings
from rq import Queue
from rq.serializers import JSONSerializer

from apikit.errors import EngineTimeout, EngineUnavailable
from engine_client.gateway import OrderGateway, engine_call, get_gateway, now_ms
from infra import keys
from marketdata.selectors import market_units_get

pytestmark = pytest.mark.django_db


def deposit(user_id: int, asset: str = "USDT", amount: int = 10**12) -> dict:
    return engine_call(
        {"kind": "Deposit", "user_id": user_id, "asset": asset, "amount": amount, "decimals": 8}
    )


def order(user_id: int, symbol: str, side: str, price: int, quantity: int, **extra) -> dict:
    command = {
        "kind": "PlaceOrder",
        "user_id": user_id,
        "symbol": symbol,
        "side": side,
        "type": "limit",
        "time_in_force": "GTC",
        "price": price,
        "quantity": quantity,
        "post_only": False,
        "client_order_id": None,
        **extra,
    }
    return engine_call(command, shard=market_units_get(symbol).shard)


def test_malformed_commands_get_rejections_and_the_worker_carries_on(engine, market):
    gateway = get_gateway()
    bad = [
        {"kind": "PlaceOrder", "request_id": gateway.new_request_id(), "ts": now_ms()},
        {"kind": "Explode", "request_id": gateway.new_request_id(), "ts": now_ms()},
        {
            "kind": "Deposit",
            "request_id": gateway.new_request_id(),
            "ts": now_ms(),
            "user_id": "1; DROP",
            "asset": "USDT",
            "amount": 5,
        },
        {
            "kind": "PlaceOrder",
            "request_id": gateway.new_request_id(),
            "ts": now_ms(),
            "user_id": 1,
            "symbol": market,
            "side": "sideways",
            "type": "limit",
            "time_in_force": "GTC",
            "price": 1,
            "quantity": 1,
            "post_only": False,
        },
    ]
    futures = [gateway.submit(0, command) for command in bad]
    replies = [f.result(5) for f in futures]
    assert [(r["ok"], r["code"]) for r in replies] == [(False, "malformed_command")] * 4
    # A job that is not even a list of commands, enqueued behind the gateway's back.
    queue = Queue(
        keys.queue(0),
        connection=redis.Redis.from_url(settings.REDIS_URL),
        serializer=JSONSerializer,
    )
    queue.enqueue_call("engine_worker.jobs.apply_batch", args=("garbage", "nowhere", 0), timeout=-1)
    assert deposit(900_001)["ok"] is True  # still alive and answering


def test_concurrent_commands_share_jobs(engine, market):
    """Adaptive batching: while a job is in flight, new commands join the next one."""
    conn = redis.Redis.from_url(settings.REDIS_URL)
    before = int(conn.xlen(keys.events_stream(0)))
    with ThreadPoolExecutor(32) as pool:
        replies = list(pool.map(lambda i: deposit(800_000 + i), range(200)))
    assert all(r["ok"] for r in replies)
    jobs = int(conn.xlen(keys.events_stream(0))) - before
    assert jobs < 200, "every command went in a job of its own"


@pytest.fixture
def short_gateway():
    """A gateway of the test's own that gives up after 0.3 s."""
    gateway = OrderGateway(settings.REDIS_URL, reply_timeout=0.3)
    yield gateway
    gateway.close()


def deposit_command(gateway: OrderGateway, user_id: int, amount: int = 1) -> dict:
    return {
        "kind": "Deposit",
        "request_id": gateway.new_request_id(),
        "ts": now_ms(),
        "user_id": user_id,
        "asset": "USDT",
        "amount": amount,
        "decimals": 8,
    }


def test_engine_timeout_is_a_504_with_the_request_id(engine, short_gateway):
    """A shard that looks alive but never answers: the caller gets EngineTimeout."""
    conn = redis.Redis.from_url(settings.REDIS_URL)
    conn.set(keys.alive(7), "1", ex=30)
    command = deposit_command(short_gateway, 1)
    with pytest.raises(EngineTimeout) as raised:
        short_gateway.call(7, command)
    assert raised.value.http_status == 504
    assert raised.value.details["request_id"] == command["request_id"]
    conn.delete(keys.queue(7), f"rq:queue:{keys.queue(7)}")


def test_engine_down_is_a_503(engine, short_gateway):
    with pytest.raises(EngineUnavailable) as raised:
        short_gateway.call(8, deposit_command(short_gateway, 1))
    assert raised.value.http_status == 503


def test_events_reach_market_and_user_channels(engine, market):
    conn = redis.Redis.from_url(settings.REDIS_URL)
    pubsub = conn.pubsub()
    pubsub.subscribe(keys.md_channel("depth", market), keys.user_channel(700_001))
    deadline = time.monotonic() + 5
    while len([m for m in [pubsub.get_message(timeout=0.1)] if m]) == 0:
        if time.monotonic() > deadline:
            break
    deposit(700_001)
    order(700_001, market, "buy", 100_00, 3000)  # 0.03 BTC at 100.00
    seen: dict[str, list] = {}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(seen) < 2:
        message = pubsub.get_message(timeout=0.2)
        if message and message["type"] == "message":
            seen.setdefault(message["channel"].decode(), []).append(json.loads(message["data"]))
    depth = seen[keys.md_channel("depth", market)][0]
    assert depth["bids"] == [["100", "0.03"]] and depth["first_sequence"] == depth["sequence"]
    user_events = [e["event"] for batch in seen[keys.user_channel(700_001)] for e in batch]
    assert "balance" in user_events


def test_restart_replays_the_log_to_the_same_state(engine, market, client):
    """kill -9 the worker: the new one rebuilds books, balances and sequence numbers."""
    deposit(600_001)
    deposit(600_002, "BTC", 10**8)
    order(600_001, market, "buy", 100_00, 5000)  # 0.05 BTC at 100.00
    order(600_002, market, "sell", 100_00, 2000)
    order(600_002, market, "sell", 101_00, 7000)
    depth_before = client.get(f"/api/v1/markets/{market}/depth").json()
    probe = deposit(600_003)  # the next reply tells us the sequence
    engine.kill()
    engine.start()
    after = deposit(600_003)
    assert after["sequence"] == probe["sequence"] + 1
    assert after["balance"]["available"] == str(2 * 10**4)  # 10**12 units of 8 decimals, twice
    depth_after = client.get(f"/api/v1/markets/{market}/depth").json()
    assert depth_after == depth_before
    # Trading goes on from the recovered book: the 0.03 BTC bid left is still there.
    taken = order(600_002, market, "sell", 100_00, 3000, time_in_force="IOC")
    assert taken["order"]["status"] == "filled"


def test_a_resent_request_id_is_refused_not_applied_twice(engine):
    gateway = get_gateway()
    command = deposit_command(gateway, 500_001, amount=5 * 10**8)
    first = gateway.call(0, dict(command))
    again = gateway.call(0, dict(command))
    assert first["ok"] and first["balance"]["available"] == "5"
    assert (again["ok"], again["code"]) == (False, "duplicate_request")
    assert deposit(500_001, amount=10**8)["balance"]["available"] == "6"


def test_resends_are_refused_after_a_restart_too(engine):
    gateway = get_gateway()
    command = deposit_command(gateway, 500_002, amount=10**8)
    assert gateway.call(0, dict(command))["ok"]
    engine.kill()
    engine.start()
    assert gateway.call(0, dict(command))["code"] == "duplicate_request"


def test_a_job_abandoned_by_a_dead_worker_is_failed_not_rerun(engine):
    """A job left in the started registry (its worker was killed mid-job) is moved to the
    failed registry at the next start, and its commands are not applied."""
    from rq.executions import Execution
    from rq.job import Job, JobStatus
    from rq.registry import StartedJobRegistry

    conn = redis.Redis.from_url(settings.REDIS_URL)
    queue = Queue(keys.queue(0), connection=conn, serializer=JSONSerializer)
    command = {
        "kind": "Deposit",
        "request_id": "abandoned-1",
        "ts": now_ms(),
        "user_id": 500_003,
        "asset": "USDT",
        "amount": 10**8,
        "decimals": 8,
    }
    engine.kill()
    listener = conn.pubsub()
    listener.subscribe("engine.reply.abandoned-test")
    # the confirmation out of the way (a late one was what the read for the reply took)
    assert listener.get_message(timeout=10)["type"] == "subscribe"
    job = Job.create(
        "engine_worker.jobs.apply_batch",
        args=([command], "engine.reply.abandoned-test", 0),
        connection=conn,
        serializer=JSONSerializer,
        timeout=-1,
        origin=queue.name,
    )
    job.save()
    registry = StartedJobRegistry(queue=queue)
    with conn.pipeline() as pipe:  # what a worker does when it takes a job
        Execution.create(job, ttl=-1, pipeline=pipe)
        pipe.execute()
    assert job.id in registry.get_job_ids(cleanup=False)
    engine.start()
    assert job.id not in registry.get_job_ids(cleanup=False)
    assert job.get_status(refresh=True) == JobStatus.FAILED
    # its gateway hears that the job is over (no replies), so nothing waits behind it
    message = listener.get_message(timeout=5)
    assert message and json.loads(message["data"]) == {"shard": 0, "replies": []}
    listener.close()
    assert deposit(500_003, amount=10**8)["balance"]["available"] == "1"  # not 2


def test_an_engine_behind_its_event_stream_refuses_to_start(engine):
    """Streams that say the shard went further than its command log and database can
    rebuild (a lost log, another deployment's Redis): the worker stops with a clear log
    line instead of handing out sequence numbers and order ids a second time."""
    from conftest import EngineProcess

    conn = redis.Redis.from_url(settings.REDIS_URL)
    shard = 5
    conn.delete(keys.events_stream(shard), keys.commands_stream(shard))
    conn.xadd(keys.events_stream(shard), {"first_seq": 41, "last_seq": 42, "records": "[]"})
    stuck = EngineProcess(engine.env, shard=shard)
    try:
        with pytest.raises(RuntimeError, match="exited with 1"):
            stuck.start(timeout=30)
    finally:
        stuck.stop()
        conn.delete(keys.events_stream(shard))
