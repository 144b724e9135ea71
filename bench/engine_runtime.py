"""Throughput of the engine worker's runtime without RQ: ``EngineRuntime.apply_batch`` on
batches of wire commands (decode, the core, rendering, the one atomic write to Redis).

The command mix is bench/e2e_orders.py part (a)'s: 100 funded users placing limit orders
around a mid price that random-walks by one tick per command, 15% of them IOC orders
crossing it by 1-50 ticks, the rest GTC orders resting 1-50 ticks away. The batches are
made before timing; each is applied as the RQ job would apply it (with a reply channel).
Printed: commands per second through apply_batch, and the share of it spent before the
commit (decode, core, rendering) and in the commit (building the script's words, the
round trip).

Runs against BENCH_REDIS_URL (default redis://127.0.0.1:6379/14), which it empties.

    .venv/bin/python bench/engine_runtime.py [--batches 200] [--batch 100] [--seed 7]
        [--profile FILE]   cProfile the timed part into FILE (pstats), print the top
        [--warm 20]        batches applied before timing
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import OrderMix

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
SYMBOL = "BTC_USDT"
MARKET = {  # seed_demo's BTC_USDT
    "symbol": SYMBOL,
    "base": "BTC",
    "quote": "USDT",
    "base_decimals": 8,
    "quote_decimals": 8,
    "tick_size": "0.01",
    "lot_size": "0.00001",
    "min_quantity": "0",
    "max_quantity": "1000000",
    "min_notional": "1",
    "maker_fee_bps": 10,
    "taker_fee_bps": 20,
    "status": "trading",
    "shard": 0,
}


def setup_batch(mix: OrderMix) -> list[dict[str, Any]]:
    """The market, then the traders' funds."""
    market = {"kind": "AddMarket", "request_id": "m", "ts": mix.ts, "market": MARKET}
    return [market, *mix.funding()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--warm", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()

    import django

    django.setup()
    import redis

    from engine_worker.runtime import EngineRuntime

    conn = redis.Redis.from_url(REDIS_URL)
    conn.flushdb()
    runtime = EngineRuntime(0, fee_account=1, connection=conn)
    mix = OrderMix(args.seed, SYMBOL)
    reply_to = "engine.reply.benchruntime"
    runtime.apply_batch(setup_batch(mix), reply_to)
    batches = [mix.orders(args.batch) for _ in range(args.warm + args.batches)]
    for commands in batches[: args.warm]:
        runtime.apply_batch(commands, reply_to)
    timed = batches[args.warm :]

    # split each batch's time at the commit, as the worker's metrics do
    spent = {"commit": 0.0}
    commit = runtime._commit

    def timed_commit(*a: Any) -> None:
        started = time.perf_counter()
        commit(*a)
        spent["commit"] += time.perf_counter() - started

    runtime._commit = timed_commit  # type: ignore[method-assign,assignment]
    profiler = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    for commands in timed:
        runtime.apply_batch(commands, reply_to)
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    total = args.batches * args.batch
    load = os.getloadavg()
    print(
        f"engine runtime, apply_batch of {args.batch} commands: {total / elapsed:10,.0f} "
        f"commands/s ({elapsed / args.batches * 1000:.2f} ms per batch: "
        f"{(elapsed - spent['commit']) / args.batches * 1000:.2f} apply, "
        f"{spent['commit'] / args.batches * 1000:.2f} commit); {total:,} commands, "
        f"{runtime.engine.next_trade_id - 1:,} trades so far; load {load[0]:.2f}"
    )
    if profiler:
        profiler.dump_stats(args.profile)
        pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
