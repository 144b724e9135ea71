"""Throughput of the engine worker's runtime without RQ: ``EngineRuntime.apply_batch`` on
batches of wire commands (decode, the core, rendering, the one atomic write to Redis).

The command mix is bench/e2e_orders.py part (a)'s: 100 funded users placing limit orders
around a mid price that random-walks by one tick per command, 15% of them IOC orders
crossing it by 1-50 ticks, the rest GTC orders resting 1-50 ticks away. The batches are
made before timing; each is applied as the RQ job would apply it (with a reply channel and
its commands' JSON text, which the command log takes as it is).
Printed, for two ways of running the same batches, alternating in rounds: commands per
second, and each batch's time split into applying it (decode, core, rendering, building
the commit's words) and sending the commit and waiting for it. *Sequential* waits for
each commit before the next batch; *pipelined* applies the next batch while Redis runs
the commit before it, as the worker does (engine_worker/worker.py JobLoop).

Runs against BENCH_REDIS_URL (default redis://127.0.0.1:6379/14), which it empties.

    .venv/bin/python bench/engine_runtime.py [--batches 200] [--batch 100] [--seed 7]
        [--profile FILE]   cProfile the pipelined part into FILE (pstats), print the top
        [--warm 20]        batches applied before timing
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
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
    from engine_worker.worker import GC_THRESHOLDS

    conn = redis.Redis.from_url(REDIS_URL)
    conn.flushdb()
    runtime = EngineRuntime(0, fee_account=1, connection=conn)
    mix = OrderMix(args.seed, SYMBOL)
    reply_to = "engine.reply.benchruntime"
    runtime.apply_batch(setup_batch(mix), reply_to)
    batches = [mix.orders(args.batch) for _ in range(args.warm + args.batches)]
    for commands in batches[: args.warm]:
        runtime.apply_batch(commands, reply_to)
    gc.freeze()  # as run_engine does once recovered; the collector's thresholds per mode

    # Two ways, alternating in rounds on the same runtime (the machine is noisy):
    # sequential, each batch applied then committed and waited for (apply_batch), and
    # pipelined, as the worker runs them (engine_worker/worker.py JobLoop): batch N+1
    # applied in memory while Redis runs N's commit.
    # The third way is the second with Python's default collector thresholds instead of
    # the worker's (GC_THRESHOLDS).
    modes = ("sequential", "pipelined", "pipelined, default gc")
    spent = {name: [0.0, 0.0, 0.0] for name in modes}  # total, prepare, wait
    # each job with its commands' JSON text, as the worker has it from the job's data
    jobs = [
        ([(commands, reply_to)], [json.dumps(commands).encode()])
        for commands in batches[args.warm :]
    ]
    rounds = 4
    size = len(jobs) // (len(modes) * rounds)
    profiler = cProfile.Profile() if args.profile else None

    def sequential(part: list[Any]) -> None:
        total = spent["sequential"]
        for job in part:
            started = time.perf_counter()
            pending = runtime.prepare(job[0], texts=job[1])
            prepared = time.perf_counter()
            runtime.send(pending)
            runtime.confirm(pending)
            total[1] += prepared - started
            total[2] += time.perf_counter() - prepared

    def pipelined(part: list[Any], name: str = "pipelined") -> None:
        total = spent[name]
        before = None
        for job in part:
            started = time.perf_counter()
            pending = runtime.prepare(job[0], texts=job[1])
            prepared = time.perf_counter()
            if before is not None:
                runtime.confirm(before)
            runtime.send(pending)
            before = pending
            total[1] += prepared - started
            total[2] += time.perf_counter() - prepared
        if before is not None:
            started = time.perf_counter()
            runtime.confirm(before)
            total[2] += time.perf_counter() - started

    for _ in range(rounds):
        for name in modes:
            part = jobs[:size]
            del jobs[:size]
            gc.set_threshold(*((700, 10, 10) if name.endswith("default gc") else GC_THRESHOLDS))
            if profiler and name == "pipelined":
                profiler.enable()
            started = time.perf_counter()
            if name == "sequential":
                sequential(part)
            else:
                pipelined(part, name)
            spent[name][0] += time.perf_counter() - started
            if profiler and name == "pipelined":
                profiler.disable()
    load = os.getloadavg()
    count = size * rounds
    print(
        f"engine runtime, batches of {args.batch} commands, {count} batches each way in "
        f"{rounds} alternating rounds; {runtime.engine.next_trade_id - 1:,} trades; "
        f"load {load[0]:.2f}"
    )
    rates = {}
    for name, (total, prepare, wait) in spent.items():
        rates[name] = count * args.batch / total
        print(
            f"  {name:21}  {rates[name]:10,.0f} commands/s  ({total / count * 1000:.2f} ms a "
            f"batch: {prepare / count * 1000:.2f} applying and building the commit, "
            f"{wait / count * 1000:.2f} sending it and waiting)"
        )
    print(
        f"  pipelined / sequential: {rates['pipelined'] / rates['sequential']:.2f}x; worker's"
        f" collector thresholds {GC_THRESHOLDS} / Python's default (700, 10, 10), pipelined: "
        f"{rates['pipelined'] / rates['pipelined, default gc']:.2f}x"
    )
    if profiler:
        profiler.dump_stats(args.profile)
        pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
