"""The web process's CPU per engine job enqueued: RQ's Queue.enqueue_call in one
MULTI/EXEC (the gateway before) against the gateway's own script (enqueue_job), in
alternating rounds of the same run, on the bench's Redis database.

    BENCH_REDIS_URL=redis://127.0.0.1:6379/6 .venv/bin/python bench/enqueue.py

Prints, for jobs of 1 and 8 commands, each way's CPU microseconds a job (this process's
user + system time: the command building, the round trip's syscalls and the reply's
parsing), the best and the median of the rounds."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from engine_client.gateway import ENQUEUE_JOB, FAILURE_TTL, JOB_FUNCTION, enqueue_job
from infra import keys

SHARD = 0
CHANNEL = "engine.reply.0123456789abcdef"


def order(n: int) -> dict[str, Any]:
    return {
        "kind": "PlaceOrder",
        "request_id": f"0123456789abcdef-{n}",
        "ts": 1_764_615_000_000 + n,
        "user_id": 1000 + n,
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "price": 6_543_210,
        "quantity": 1_000,
        "time_in_force": "GTC",
        "client_order_id": f"bench-{n}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs a round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    connection = redis.Redis.from_url(
        os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    connection.flushdb()
    queue = Queue(keys.queue(SHARD), connection=connection, serializer=JSONSerializer)
    script = connection.register_script(ENQUEUE_JOB)
    counter = iter(range(10**9))

    def with_rq(batch: list[dict[str, Any]]) -> None:
        pipe = connection.pipeline()
        queue.enqueue_call(
            JOB_FUNCTION,
            args=(batch, CHANNEL, SHARD),
            timeout=-1,
            result_ttl=0,
            failure_ttl=FAILURE_TTL,
            pipeline=pipe,
        )
        pipe.execute()

    def with_script(batch: list[dict[str, Any]]) -> None:
        enqueue_job(script, f"0123456789abcdef-{next(counter)}", batch, CHANNEL, SHARD)

    ways = {"rq enqueue_call": with_rq, "gateway script": with_script}
    for size in (1, 8):
        batch = [order(n) for n in range(size)]
        cpu: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, way in ways.items():
                way(batch)  # warm
                started = time.process_time()
                for _ in range(args.jobs):
                    way(batch)
                cpu[name].append((time.process_time() - started) / args.jobs * 1e6)
                connection.flushdb()
        base = statistics.median(cpu["rq enqueue_call"])
        for name, rounds in cpu.items():
            median = statistics.median(rounds)
            print(
                f"{size} command(s) a job, {name:16s}: {min(rounds):6.1f} us best, "
                f"{median:6.1f} us median CPU a job ({median / base:.2f}x)"
            )
    connection.flushdb()


if __name__ == "__main__":
    main()
