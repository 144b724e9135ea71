"""Throughput of the pure matching core: replay a seeded command stream for one market.

Stream (generated before timing, deterministic for a given --seed):

* 100 users, each funded by two deposits (base and quote) before the stream starts;
* then --commands N commands drawn as
    - ~60% GTC limit orders of 1-10 lots placed 1-20 ticks away from a mid price that
      random-walks (one tick up or down on ~10% of the commands), so they rest, and
      only orders placed before the mid moved can cross slightly;
    - ~25% cancels of a random order id among the GTC orders placed so far that this
      generator has not cancelled yet (some of them were filled meanwhile: those
      cancels are rejected with unknown_order, a cheap path that is counted);
    - ~10% IOC limit orders of 1-30 lots crossing the mid by 0-5 ticks;
    - ~5% market orders of 1-20 lots (buys pay as they fill from available funds);
* maker fee 10 bps, taker fee 20 bps, one lot = 10**6 base units, one tick*lot =
  10**4 quote units.

Printed: which core ran (``compiled``: the mypyc build of engine_worker/core that `make
venv` makes; ``pure``: the Python source; ENGINE_CORE=pure|compiled chooses, see
engine_worker/core/__init__.py), commands per second of ``Engine.apply`` alone, events per
second, trades, rejections, resting orders at the end and peak memory (ru_maxrss of the
process, and tracemalloc's peak on a separate pass of --mem-commands commands). When the
compiled core is built, the same stream then runs again in fresh interpreters, pure and
compiled alternately (--rounds pairs; --no-compare skips it), and the ratio of their best
rates is printed: both figures from the same run of the same machine.

    .venv/bin/python bench/engine_core.py [--commands 1000000] [--seed 1] [--rounds 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import engine_worker.core as core
from engine_worker.core.commands import (
    AddMarket,
    CancelOrder,
    Command,
    Deposit,
    PlaceOrder,
)
from engine_worker.core.engine import Engine
from engine_worker.core.events import CommandRejected, OrderRejected, Trade
from engine_worker.core.rules import MarketRules
from engine_worker.core.types import OrderType, Side, TimeInForce

SYMBOL = "BTC-USDT"
USERS = 100
RULES = MarketRules(
    symbol=SYMBOL,
    base="BTC",
    quote="USDT",
    base_per_lot=10**6,
    quote_per_tick_lot=10**4,
    maker_fee_bps=10,
    taker_fee_bps=20,
)


def setup_commands() -> list[Command]:
    cmds: list[Command] = [AddMarket("r0", 0, RULES)]
    for u in range(1, USERS + 1):
        cmds.append(Deposit(f"d{u}b", 0, u, "BTC", 10**18))
        cmds.append(Deposit(f"d{u}q", 0, u, "USDT", 10**22))
    return cmds


def generate(n: int, seed: int) -> list[Command]:
    rnd = random.Random(seed)
    rand = rnd.random
    randint = rnd.randint
    buy, sell = Side.BUY, Side.SELL
    limit, market = OrderType.LIMIT, OrderType.MARKET
    gtc, ioc = TimeInForce.GTC, TimeInForce.IOC
    mid = 100_000
    next_id = 1  # every generated order is valid, so ids are predictable
    resting: list[tuple[int, int]] = []  # (order id, user) of GTC orders not yet cancelled
    out: list[Command] = []
    for i in range(n):
        if rand() < 0.1:
            mid += 1 if rand() < 0.5 else -1
        ts = 1_700_000_000_000 + i
        r = rand()
        uid = randint(1, USERS)
        if r < 0.60:
            if rand() < 0.5:
                cmd = PlaceOrder("", ts, uid, SYMBOL, buy, limit, gtc, mid - randint(1, 20),
                                 randint(1, 10))  # fmt: skip
            else:
                cmd = PlaceOrder("", ts, uid, SYMBOL, sell, limit, gtc, mid + randint(1, 20),
                                 randint(1, 10))  # fmt: skip
            resting.append((next_id, uid))
            next_id += 1
        elif r < 0.85 and resting:
            j = randint(0, len(resting) - 1)
            resting[j], resting[-1] = resting[-1], resting[j]
            oid, owner = resting.pop()
            cmd = CancelOrder("", ts, owner, oid)
        elif r < 0.95:
            if rand() < 0.5:
                cmd = PlaceOrder("", ts, uid, SYMBOL, buy, limit, ioc, mid + randint(0, 5),
                                 randint(1, 30))  # fmt: skip
            else:
                cmd = PlaceOrder("", ts, uid, SYMBOL, sell, limit, ioc, mid - randint(0, 5),
                                 randint(1, 30))  # fmt: skip
            next_id += 1
        else:
            side = buy if rand() < 0.5 else sell
            cmd = PlaceOrder("", ts, uid, SYMBOL, side, market, ioc, 0, randint(1, 20))
            next_id += 1
        out.append(cmd)
    return out


def run(
    cmds: list[Command], progress: bool, keep_gc: bool = False
) -> tuple[Engine, float, dict[str, int]]:
    eng = Engine(fee_account=0)
    for c in setup_commands():
        eng.apply(c)
    apply = eng.apply
    n_events = n_trades = n_rej = 0
    step = 100_000
    if not keep_gc:
        gc.disable()  # the worker can do the same, or gc.freeze() after recovery
    t0 = time.perf_counter()
    elapsed = 0.0
    for start in range(0, len(cmds), step):
        chunk = cmds[start : start + step]
        t = time.perf_counter()
        results = [apply(c) for c in chunk]
        elapsed += time.perf_counter() - t
        # counting happens outside the timed region
        for evs in results:
            n_events += len(evs)
            for e in evs:
                if type(e) is Trade:
                    n_trades += 1
                elif type(e) is OrderRejected or type(e) is CommandRejected:
                    n_rej += 1
        del results
        if progress:
            done = start + len(chunk)
            print(
                f"  {done:>9,} commands  {done / elapsed:>10,.0f}/s  "
                f"wall {time.perf_counter() - t0:.1f}s",
                file=sys.stderr,
            )
    gc.enable()
    return eng, elapsed, {"events": n_events, "trades": n_trades, "rejected": n_rej}


def event_floor(cmds: list[Command], n: int) -> float:
    """Commands/s of a loop that does nothing but build the events the engine emitted for
    the first ``n`` commands, the way the engine builds them (``Cls.__new__(Cls)`` and one
    store per field from a local, one list per command; no matching, no balances, no
    book), in interpreted Python: what the events alone cost on this stream in pure Python,
    so the pure engine's time beyond it is its logic (the compiled engine, whose stores are
    C struct stores, can run above it). One generated function, a branch per event class
    (commonest first), each event's values unpacked into locals: a little slower than
    straight-line code (the unpacking and the branch), so the real floor is a little higher
    still."""
    eng = Engine(fee_account=0)
    for c in setup_commands():
        eng.apply(c)
    recorded = [eng.apply(c) for c in cmds[:n]]
    counts: dict[type, int] = {}
    for evs in recorded:
        for e in evs:
            counts[type(e)] = counts.get(type(e), 0) + 1
    kinds = sorted(counts, key=counts.__getitem__, reverse=True)
    index = {k: i for i, k in enumerate(kinds)}
    params = ", ".join(f"K{i}=K{i}" for i in range(len(kinds)))
    src = [f"def replay(plan, {params}):", "    out = []",
           "    push = out.append", "    for evs in plan:", "        events = []",
           "        append = events.append", "        for k, v in evs:"]  # fmt: skip
    for i, k in enumerate(kinds):
        names = [f.name for f in dataclasses.fields(k)]
        src.append(f"            {'if' if i == 0 else 'elif'} k == {i}:")
        src.append(f"                {', '.join(f'v{j}' for j in range(len(names)))}, = v")
        src.append(f"                e = K{i}.__new__(K{i})")
        src += [f"                e.{f} = v{j}" for j, f in enumerate(names)]
    src += ["            append(e)", "        push(events)", "    return out"]
    ns: dict = {f"K{i}": k for i, k in enumerate(kinds)}
    exec("\n".join(src), ns)  # noqa: S102 - generated from the event classes' own fields
    plan = [
        [(index[type(e)], tuple(getattr(e, f.name) for f in dataclasses.fields(e))) for e in evs]
        for evs in recorded
    ]
    del recorded, eng
    gc.disable()
    t = time.perf_counter()
    out = ns["replay"](plan)
    elapsed = time.perf_counter() - t
    gc.enable()
    del out
    return len(plan) / elapsed


def rate_in_subprocess(impl: str, args: argparse.Namespace) -> float:
    """Commands/s of the same stream in a fresh interpreter running the ``impl`` core."""
    cmd = [sys.executable, __file__, "--commands", str(args.commands), "--seed", str(args.seed),
           "--rate-only"] + (["--keep-gc"] if args.keep_gc else [])  # fmt: skip
    out = subprocess.run(
        cmd, env={**os.environ, "ENGINE_CORE": impl}, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == impl, f"asked for the {impl} core, ran {out[0]}"
    return float(out[1])


def compare(args: argparse.Namespace) -> None:
    rates: dict[str, list[float]] = {"pure": [], "compiled": []}
    print(f"\npure beside compiled, same stream, fresh interpreters ({args.rounds} rounds):")
    for r in range(args.rounds):
        for impl in ("pure", "compiled") if r % 2 == 0 else ("compiled", "pure"):
            rates[impl].append(rate_in_subprocess(impl, args))
        print(f"  round {r + 1}: pure {rates['pure'][-1]:>10,.0f}/s  "
              f"compiled {rates['compiled'][-1]:>10,.0f}/s  "
              f"ratio {rates['compiled'][-1] / rates['pure'][-1]:.2f}")  # fmt: skip
    bp, bc = max(rates["pure"]), max(rates["compiled"])
    print(f"best              pure {bp:,.0f}/s, compiled {bc:,.0f}/s: compiled {bc / bp:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commands", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mem-commands", type=int, default=200_000)
    ap.add_argument("--check", action="store_true", help="check_invariants at the end")
    ap.add_argument("--keep-gc", action="store_true", help="leave the cyclic GC on while timing")
    ap.add_argument("--floor-commands", type=int, default=100_000,
                    help="commands for the event-building floor (0: skip)")  # fmt: skip
    ap.add_argument("--rounds", type=int, default=2,
                    help="pure/compiled pairs after the main run (if built)")  # fmt: skip
    ap.add_argument("--no-compare", action="store_true", help="skip the pure/compiled pairs")
    ap.add_argument("--rate-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.rate_only:  # one line for compare(): the core that ran, commands/s
        cmds = generate(args.commands, args.seed)
        _, elapsed, _ = run(cmds, progress=False, keep_gc=args.keep_gc)
        print(core.IMPLEMENTATION, len(cmds) / elapsed)
        return

    print(__doc__.split("\n\nPrinted:")[0].strip())
    engine_file = Path(sys.modules[Engine.__module__].__file__ or "?").name
    print(f"\ncore              {core.IMPLEMENTATION} ({engine_file})")
    print(f"\ngenerating {args.commands:,} commands (seed {args.seed}) ...", file=sys.stderr)
    cmds = generate(args.commands, args.seed)
    eng, elapsed, counts = run(cmds, progress=True, keep_gc=args.keep_gc)
    if args.check:
        eng.check_invariants()
    resting = sum(1 for _ in eng.iter_open_orders())
    b, a, _ = eng.depth_snapshot(SYMBOL, 1)
    n = len(cmds)
    print(f"\ncommands          {n:,} (seed {args.seed})")
    print(f"apply() time      {elapsed:.2f} s (cyclic GC {'on' if args.keep_gc else 'off'})")
    print(f"commands/s        {n / elapsed:,.0f}")
    print(f"events            {counts['events']:,}  ({counts['events'] / elapsed:,.0f}/s)")
    print(f"trades            {counts['trades']:,}")
    print(f"rejected          {counts['rejected']:,}")
    print(f"resting orders    {resting:,}  (best bid {b[:1]}, best ask {a[:1]})")
    if args.floor_commands:
        m = min(args.floor_commands, n)
        floor = event_floor(cmds, m)
        print(
            f"events-only floor {floor:,.0f} commands/s (interpreted code only building the same "
            f"events, first {m:,} commands); engine at {n / elapsed / floor:.0%} of it"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS          {rss / 1024:,.0f} MiB (whole process, command list included)")
    built = (core.build_dir() / "COMPLETE").is_file()

    del cmds, eng
    gc.collect()
    m = min(args.mem_commands, args.commands)
    mcmds = generate(m, args.seed)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    eng2 = Engine(fee_account=0)
    for c in setup_commands():
        eng2.apply(c)
    for c in mcmds:
        eng2.apply(c)
    cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    resting2 = sum(1 for _ in eng2.iter_open_orders())
    print(
        f"engine memory     {(cur - base) / 2**20:,.1f} MiB now, {(peak - base) / 2**20:,.1f} MiB "
        f"peak (tracemalloc, {m:,} commands, {resting2:,} resting)"
    )
    if args.no_compare or args.rounds <= 0:
        return
    if not built:
        print("\n(no compiled core built for these sources: `make venv` builds it; pure only)")
        return
    compare(args)


if __name__ == "__main__":
    main()
