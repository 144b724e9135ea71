"""End-to-end order throughput and latency, printed as figures (issue 2).

Starts its own stack on a database and a Redis database of its own (exchange_bench,
Redis db 14): an engine worker process and, for part (b), a daphne web process.

(a) Engine throughput through RQ: batched jobs enqueued directly on the engine's queue,
    commands per second until the last reply; next to the rate of no-op RQ jobs on a
    SimpleWorker in this same run (the per-job cost batching amortises).
(b) Orders per second and p50/p99 latency through HTTP with K = 1, 8, 32 concurrent
    keep-alive clients, next to the rate of the cheapest authenticated DRF endpoint
    (GET /api/v1/auth/me) on the same server: the HTTP stack's own ceiling. Then an
    open-loop run at half that ceiling for the p99 at that load.

Usage: .venv/bin/python bench/e2e_orders.py [--seconds 5] [--jobs 200] [--batch 100]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import bench_env, free_port, log, port_open, prepare  # noqa: E402
from bench.common import start as start_service  # noqa: E402

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
ENV = bench_env(
    "exchange_bench",
    REDIS_URL,
    SIGNUP_DEMO_FUNDS="USDT=100000000,BTC=100000",
    API_RATE_LIMIT="100000000/minute",
)


def start(args: list[str], wait_for) -> subprocess.Popen:
    return start_service(args, ENV, wait_for)


# -- (a) engine throughput through RQ ----------------------------------------------------


def noop() -> None:
    """The no-op job of the baseline."""


def rq_noop_rate(jobs: int) -> float:
    import redis
    from rq import Queue, SimpleWorker
    from rq.serializers import JSONSerializer

    conn = redis.Redis.from_url(REDIS_URL)
    queue = Queue("bench.noop", connection=conn, serializer=JSONSerializer)
    for _ in range(jobs):
        queue.enqueue_call("bench.e2e_orders.noop", timeout=-1, result_ttl=0)
    worker = SimpleWorker([queue], connection=conn, serializer=JSONSerializer)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    return jobs / (time.perf_counter() - started)


def engine_rq_rate(jobs: int, batch: int) -> tuple[float, int]:
    import redis
    from rq import Queue
    from rq.serializers import JSONSerializer

    from infra import keys

    conn = redis.Redis.from_url(REDIS_URL)
    queue = Queue(keys.queue(0), connection=conn, serializer=JSONSerializer)
    reply_to = "engine.reply.bench"
    pubsub = conn.pubsub()
    pubsub.subscribe(reply_to)
    pubsub.get_message(timeout=1)
    rng = random.Random(7)
    users = list(range(1_000_000, 1_000_100))
    ts = int(time.time() * 1000)
    funding = [
        {
            "kind": "Deposit",
            "request_id": f"f{u}{a}",
            "ts": ts,
            "user_id": u,
            "asset": a,
            "amount": 10**18,
            "decimals": 8,
        }
        for u in users
        for a in ("USDT", "BTC")
    ]
    queue.enqueue_call(
        "engine_worker.jobs.apply_batch", args=(funding, reply_to, 0), timeout=-1, result_ttl=0
    )
    pubsub.get_message(timeout=10)
    mid = 3_000_000  # ticks (30000.00)
    all_jobs = []
    n = 0
    for _ in range(jobs):
        commands = []
        for _ in range(batch):
            n += 1
            mid += rng.choice((-1, 1))
            side = rng.choice(("buy", "sell"))
            cross = rng.random() < 0.15
            offset = rng.randint(1, 50)
            price = (
                (mid + offset if side == "buy" else mid - offset)
                if cross
                else (mid - offset if side == "buy" else mid + offset)
            )
            commands.append(
                {
                    "kind": "PlaceOrder",
                    "request_id": f"b{n}",
                    "ts": ts,
                    "user_id": rng.choice(users),
                    "symbol": "BTC_USDT",
                    "side": side,
                    "type": "limit",
                    "time_in_force": "IOC" if cross else "GTC",
                    "price": price,
                    "quantity": rng.randint(1, 100),
                    "post_only": False,
                    "client_order_id": None,
                }
            )
        all_jobs.append(commands)
    started = time.perf_counter()
    pipe = conn.pipeline(transaction=False)
    for commands in all_jobs:
        queue.enqueue_call(
            "engine_worker.jobs.apply_batch",
            args=(commands, reply_to, 0),
            timeout=-1,
            result_ttl=0,
            pipeline=pipe,
        )
    pipe.execute()
    got = 0
    while got < jobs:
        message = pubsub.get_message(timeout=30)
        if message is None:
            raise RuntimeError("engine stopped answering")
        if message["type"] == "message":
            got += 1
    elapsed = time.perf_counter() - started
    return jobs * batch / elapsed, jobs * batch


# -- (b) HTTP ----------------------------------------------------------------------------


class Client:
    def __init__(self, port: int, token: str | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Token {token}"

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        self.conn.request(method, path, json.dumps(body) if body else None, self.headers)
        response = self.conn.getresponse()
        return response.status, json.loads(response.read() or b"null")


def register(port: int, name: str) -> str:
    status, body = Client(port).request(
        "POST", "/api/v1/auth/register", {"username": name, "password": "bench-password-1"}
    )
    assert status == 201, body
    return body["token"]


def order_body(rng: random.Random, i: int) -> dict:
    side = "buy" if i % 2 else "sell"
    price = 30000 + rng.randint(-20, 20)
    return {
        "symbol": "ETH_USDT" if i % 3 == 0 else "BTC_USDT",
        "side": side,
        "type": "limit",
        "price": str(price),
        "quantity": "0.001" if i % 3 else "0.01",
        "time_in_force": "GTC" if i % 4 else "IOC",
    }


def closed_loop(port: int, tokens: list[str], seconds: float, make_request) -> tuple[float, list]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    errors = []

    def run(k: int) -> None:
        client = Client(port, tokens[k])
        rng = random.Random(k)
        mine, i = [], 0
        while time.perf_counter() < stop_at:
            method, path, body = make_request(rng, i)
            t0 = time.perf_counter()
            status, reply = client.request(method, path, body)
            mine.append(time.perf_counter() - t0)
            if status >= 300:
                errors.append((status, reply))
            i += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(tokens))]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        log(f"  {len(errors)} errors, e.g. {errors[0]}")
    return len(latencies) / (time.perf_counter() - started), latencies


def open_loop(port: int, tokens: list[str], seconds: float, rate: float) -> tuple[float, list]:
    """Each of the clients sends at rate/len(tokens) per second on a fixed schedule;
    latency counts from the scheduled time, so queueing delay is included."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = rate / len(tokens)

    def run(k: int) -> None:
        client = Client(port, tokens[k])
        rng = random.Random(100 + k)
        start = time.perf_counter() + rng.random() / per_client
        mine = []
        i = 0
        while True:
            scheduled = start + i / per_client
            if scheduled > start + seconds:
                break
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            client.request("POST", "/api/v1/orders", order_body(rng, i))
            mine.append(time.perf_counter() - scheduled)
            i += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(tokens))]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - started), latencies


def pct(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()

    import django

    django.setup()
    import redis

    from infra import keys

    log("setting up the bench database and Redis db ...")
    prepare(ENV)
    conn = redis.Redis.from_url(REDIS_URL)
    manage = [sys.executable, "manage.py"]
    engine = start([*manage, "run_engine"], lambda: conn.exists(keys.alive(0)))
    port = free_port()
    web = None
    try:
        log("(a) no-op RQ jobs ...")
        noop_rate = rq_noop_rate(2000)
        log("(a) engine through RQ ...")
        engine_rate, commands = engine_rq_rate(args.jobs, args.batch)
        print("(a) engine through RQ")
        print(f"    no-op RQ jobs, SimpleWorker:           {noop_rate:10,.0f} jobs/s")
        print(
            f"    engine, {args.batch} commands per job:      {engine_rate:10,.0f} commands/s"
            f"  ({commands:,} commands; {engine_rate / noop_rate:.0f}x the no-op job rate)"
        )

        web = start(
            [
                str(ROOT / ".venv/bin/python"),
                "-m",
                "realtime.server",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "exchange_site.asgi:application",
            ],
            lambda: port_open(port),
        )
        log("(b) registering 32 traders ...")
        tokens = [register(port, f"bench{time.time_ns()}x{k}") for k in range(32)]
        print("(b) through HTTP (POST /api/v1/orders), closed loop, keep-alive clients")
        me_rate, me_lat = closed_loop(
            port, tokens, args.seconds, lambda rng, i: ("GET", "/api/v1/auth/me", None)
        )
        rows = []
        for k in (1, 8, 32):
            log(f"(b) K={k} ...")
            rate, lat = closed_loop(
                port,
                tokens[:k],
                args.seconds,
                lambda rng, i: ("POST", "/api/v1/orders", order_body(rng, i)),
            )
            rows.append((k, rate, lat))
        print(
            f"    trivial authenticated GET, K=32:  {me_rate:8,.0f} req/s"
            f"   p50 {pct(me_lat, 0.5):6.1f} ms  p99 {pct(me_lat, 0.99):6.1f} ms"
        )
        for k, rate, lat in rows:
            print(
                f"    orders, K={k:<2}:                     {rate:8,.0f} orders/s"
                f"  p50 {pct(lat, 0.5):6.1f} ms  p99 {pct(lat, 0.99):6.1f} ms"
                f"  ({rate / me_rate:.2f}x trivial)"
            )
        log("(b) open loop at half the trivial rate ...")
        target = me_rate / 2
        rate, lat = open_loop(port, tokens, args.seconds, target)
        print(
            f"    orders at half the trivial rate ({target:,.0f}/s offered, {rate:,.0f}/s "
            f"done): p50 {pct(lat, 0.5):6.1f} ms  p99 {pct(lat, 0.99):6.1f} ms"
        )
        print(f"    machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    finally:
        for proc in (web, engine):
            if proc is not None:
                proc.terminate()
                proc.wait(10)


if __name__ == "__main__":
    main()
